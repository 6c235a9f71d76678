package kube

import (
	"context"
	"errors"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	k8stesting "k8s.io/client-go/testing"
)

func TestResolve(t *testing.T) {
	c := testCluster()
	for _, tc := range []struct {
		to     string
		target string // Endpoint.String(), "" without target
		nodes  []string
		args   string // the node filter
		note   string // a substring of a note, "" for none
	}{
		{"", "", []string{"node-a"}, "--host 10.244.1.5/32", ""},
		{"svc/web", "service shop/web (10.96.0.20:80)", []string{"node-a"},
			"--proto tcp --src 10.244.1.5/32 --dst 10.96.0.20/32 --dport 80 --reply", "client's node only"},
		{"svc/multi:dns", "service shop/multi (10.96.0.21:53)", []string{"node-a"},
			"--proto udp --src 10.244.1.5/32 --dst 10.96.0.21/32 --dport 53 --reply", "client's node only"},
		{"svc/multi", "service shop/multi (10.96.0.21)", []string{"node-a"},
			"--src 10.244.1.5/32 --dst 10.96.0.21/32 --reply", "has 2 ports"},
		{"pod/server:http", "pod shop/server (10.244.2.7:8080) on node-b", []string{"node-a", "node-b"},
			"--proto tcp --src 10.244.1.5/32 --dst 10.244.2.7/32 --dport 8080 --reply", ""},
		{"server", "pod shop/server (10.244.2.7) on node-b", []string{"node-a", "node-b"},
			"--src 10.244.1.5/32 --dst 10.244.2.7/32 --reply", ""},
		{"neighbour:8080", "pod shop/neighbour (10.244.1.9:8080) on node-a", []string{"node-a"},
			"--proto tcp --src 10.244.1.5/32 --dst 10.244.1.9/32 --dport 8080 --reply", ""},
		{"1.1.1.1:53", "1.1.1.1:53", []string{"node-a"},
			"--src 10.244.1.5/32 --dst 1.1.1.1/32 --dport 53 --reply", ""},
	} {
		plan, err := Resolve(context.Background(), c, Request{Namespace: "shop", Pod: "client", To: tc.to})
		if err != nil {
			t.Errorf("--to %q: %v", tc.to, err)
			continue
		}
		if plan.Pod.Node != "node-a" || plan.Pod.IP.String() != "10.244.1.5" {
			t.Errorf("--to %q: pod %v", tc.to, plan.Pod)
		}
		target := ""
		if plan.Target != nil {
			target = plan.Target.String()
		}
		if target != tc.target {
			t.Errorf("--to %q: target %q, want %q", tc.to, target, tc.target)
		}
		if !slices.Equal(plan.Nodes, tc.nodes) || plan.MultiNode() != (len(tc.nodes) == 2) {
			t.Errorf("--to %q: nodes %v, want %v", tc.to, plan.Nodes, tc.nodes)
		}
		args := plan.Filter.Args()
		if got := strings.Join(args[1:len(args)-2], " "); got != tc.args {
			t.Errorf("--to %q: filter %q, want %q", tc.to, got, tc.args)
		}
		notes := strings.Join(plan.Notes, "\n")
		if (tc.note == "") != (notes == "") || !strings.Contains(notes, tc.note) {
			t.Errorf("--to %q: notes %q, want one with %q", tc.to, notes, tc.note)
		}
	}
}

func TestResolveErrors(t *testing.T) {
	c := testCluster()
	for _, tc := range []struct {
		pod, to string
		want    error
		msg     string
	}{
		{"nosuch", "", ErrPodNotFound, "get pod shop/nosuch: pod not found"},
		{"starting", "", ErrPodNotRunning, "check pod shop/starting: pod not running: phase Pending (ImagePullBackOff)"},
		{"client", "starting", ErrPodNotRunning, "resolve target: check pod shop/starting: pod not running"},
		{"client", "pod/nosuch", ErrPodNotFound, "resolve target: get pod shop/nosuch: pod not found"},
		{"client", "svc/nosuch", ErrServiceNotFound, "get service shop/nosuch: service not found"},
		{"client", "svc/headless", ErrBadTarget, "headless"},
		{"client", "svc/ext", ErrBadTarget, "ExternalName service (db.example.com)"},
		{"client", "svc/web:grpc", ErrBadTarget, "the service has no such port"},
		{"client", "server:grpc", ErrBadTarget, "no container port has that name"},
		{"client", "deploy/x", ErrBadTarget, "want pod/NAME"},
	} {
		_, err := Resolve(context.Background(), c, Request{Namespace: "shop", Pod: tc.pod, To: tc.to})
		if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("trace %s --to %q: error %v, want %v with %q", tc.pod, tc.to, err, tc.want, tc.msg)
		}
		if err != nil && strings.Contains(err.Error(), "\n") {
			t.Errorf("trace %s --to %q: error is not one line: %q", tc.pod, tc.to, err)
		}
	}
}

func TestResolveHostNetworkNote(t *testing.T) {
	plan, err := Resolve(context.Background(), testCluster(), Request{Namespace: "shop", Pod: "agent"})
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Notes) != 1 || !strings.Contains(plan.Notes[0], "host network") {
		t.Errorf("notes %q, want the host-network note", plan.Notes)
	}
	// The node's address names the host, never the pod on its network.
	want := map[netip.Addr]string{
		netip.MustParseAddr("10.244.1.5"): "shop/client",
		netip.MustParseAddr("10.244.1.9"): "shop/neighbour",
	}
	if !maps.Equal(plan.PodNames, want) {
		t.Errorf("pod names %v, want %v", plan.PodNames, want)
	}
}

func TestResolveForbiddenGet(t *testing.T) {
	c := testCluster()
	c.PrependReactor("get", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, "client", errors.New("RBAC says no"))
	})
	_, err := Resolve(context.Background(), c, Request{Namespace: "shop", Pod: "client"})
	if !apierrors.IsForbidden(err) || errors.Is(err, ErrPodNotFound) {
		t.Errorf("error %v, want the API's forbidden error wrapped", err)
	}
}
