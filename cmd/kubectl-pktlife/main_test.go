package main

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/pktlife/pktlife/kube"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/kube")

const testdata = "../../testdata/kube"

func pod(name, node, ip string, phase corev1.PodPhase, ports ...corev1.ContainerPort) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop"},
		Spec:       corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "app", Image: "app", Ports: ports}}},
		Status:     corev1.PodStatus{Phase: phase, PodIP: ip},
	}
}

func cluster() *fake.Clientset {
	return fake.NewClientset(
		pod("client", "node-a", "10.244.1.5", corev1.PodRunning),
		pod("server", "node-b", "10.244.2.7", corev1.PodRunning,
			corev1.ContainerPort{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}),
		pod("starting", "node-a", "", corev1.PodPending),
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop"},
			Spec: corev1.ServiceSpec{ClusterIP: "10.96.0.20", Ports: []corev1.ServicePort{{Port: 80, Protocol: corev1.ProtocolTCP}}}},
	)
}

// execute runs the plugin against c in namespace shop.
func execute(t *testing.T, c kubernetes.Interface, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	return executeWith(t, c, nil, args...)
}

// executeWith runs the plugin with the node runners newRunner makes (the
// API's when nil).
func executeWith(t *testing.T, c kubernetes.Interface, newRunner func() kube.NodeRunner, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	a := newApp(&out, &errb)
	a.newClient = func() (kubernetes.Interface, string, error) { return c, "shop", nil }
	a.session = func() string { return "t1" }
	if newRunner != nil {
		a.newRunner = func(kubernetes.Interface, time.Duration) kube.NodeRunner { return newRunner() }
	}
	code = run(context.Background(), a, args)
	return code, out.String(), errb.String()
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join(testdata, name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (go test -update rewrites it):\n%s", path, got)
	}
}

func TestDryRunGolden(t *testing.T) {
	for _, tc := range []struct {
		golden string
		args   []string
	}{
		{"dryrun-two-nodes.yaml", []string{"trace", "client", "--to", "pod/server:http", "--count", "10", "--dry-run", "-o", "yaml"}},
		{"dryrun-service.yaml", []string{"trace", "client", "--to", "svc/web", "--node-namespace", "kube-system",
			"--duration", "30s", "--image", "registry.local/pktlife:dev", "--image-pull-policy", "IfNotPresent",
			"--iface", "lxc*", "--iface", "eth0", "--tail-calls", "passive", "--dry-run=client", "-o", "yaml"}},
	} {
		code, out, errs := execute(t, cluster(), tc.args...)
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", tc.golden, code, errs)
		}
		golden(t, tc.golden, out)
	}
	// JSON says the same as YAML.
	code, out, _ := execute(t, cluster(), "trace", "client", "--dry-run", "-o", "json")
	if code != 0 || !strings.Contains(out, `"hostNetwork": true`) || !strings.Contains(out, `"--host",`) {
		t.Errorf("-o json: exit %d\n%s", code, out)
	}
	// An expression after the pod reaches the node pod's pktlife as its
	// positional arguments, after "--".
	code, out, _ = execute(t, cluster(), "trace", "client", "udp", "and", "not", "port", "53", "--dry-run", "-o", "json")
	if code != 0 || !strings.Contains(out, "\"--\",\n") || !strings.Contains(out, `"udp and not port 53"`) ||
		!strings.Contains(out, `'udp and not port 53'"`) {
		t.Errorf("expression: exit %d\n%s", code, out)
	}
}

func TestDryRunServer(t *testing.T) {
	c := cluster()
	code, out, errs := execute(t, c, "trace", "client", "--dry-run=server", "-o", "yaml")
	if code != 0 || !strings.Contains(out, "name: pktlife-t1-node-a") {
		t.Errorf("server dry run: exit %d, %s\n%s", code, errs, out)
	}
	// The fake stores what it is sent whatever dryRun says, so check the request.
	dry := 0
	for _, a := range c.Actions() {
		if ca, ok := a.(k8stesting.CreateActionImpl); ok && ca.GetResource().Resource == "pods" {
			if len(ca.CreateOptions.DryRun) != 1 || ca.CreateOptions.DryRun[0] != metav1.DryRunAll {
				t.Errorf("create sent with dryRun %q, want All", ca.CreateOptions.DryRun)
			}
			dry++
		}
	}
	if dry != 1 {
		t.Errorf("%d creates, want 1 dry-run create", dry)
	}
	c.PrependReactor("create", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, "pktlife-t1-node-a",
			errorString(`violates PodSecurity "restricted:latest": host namespaces (hostNetwork=true, hostPID=true)`))
	})
	code, _, errs = execute(t, c, "trace", "client", "--dry-run=server")
	if code != 1 || !strings.Contains(errs, "forbidden to create the privileged node pod") || !strings.Contains(errs, "violates PodSecurity") {
		t.Errorf("forbidden: exit %d: %s", code, errs)
	}
}

type errorString string

func (e errorString) Error() string { return string(e) }

func TestErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"trace", "nosuch"}, 1, "error: get pod shop/nosuch: pod not found\n"},
		{[]string{"trace", "starting"}, 1, "error: check pod shop/starting: pod not running: phase Pending\n"},
		{[]string{"trace", "client", "--to", "svc/nosuch"}, 1, "error: get service shop/nosuch: service not found\n"},
		{[]string{"trace", "client", "--to", "deploy/x"}, 2, "want pod/NAME, svc/NAME or an IP"},
		{[]string{"trace", "client", "--proto", "gre"}, 2, "unknown protocol"},
		{[]string{"trace", "client", "--src", "10.0.0.300"}, 2, "bad filter"},
		{[]string{"trace", "client", "udp", "and"}, 2, `bad filter: parse filter "udp and": missing a primitive at the end`},
		{[]string{"trace", "client", "-o", "yaml"}, 2, "-o yaml is not an output of this mode"},
		{[]string{"trace", "client", "--dry-run=maybe"}, 2, "--dry-run must be none, client or server"},
		{[]string{"trace", "client", "--bogus"}, 2, "unknown flag: --bogus"},
		{[]string{"trace"}, 2, "want one pod name, got 0 arguments"},
		{[]string{"tarce", "client"}, 2, "unknown command"},
	} {
		code, _, errs := execute(t, cluster(), tc.args...)
		if code != tc.code || !strings.Contains(errs, tc.msg) {
			t.Errorf("%q: exit %d, stderr %q; want %d with %q", tc.args, code, errs, tc.code, tc.msg)
		}
	}
}

func TestTraceOneNode(t *testing.T) {
	logs, err := os.ReadFile(filepath.Join(testdata, "node-a.ndjson"))
	if err != nil {
		t.Fatal(err)
	}
	c := cluster()
	c.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		p := a.(k8stesting.CreateAction).GetObject().(*corev1.Pod)
		p.Status.Phase = corev1.PodSucceeded // ran and exited 0 at once
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "pktlife",
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "Completed"}}}}
		return false, nil, nil
	})
	c.PrependReactor("get", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetSubresource() != "log" {
			return false, nil, nil
		}
		return true, &runtime.Unknown{Raw: logs}, nil
	})
	for _, output := range []string{"text", "json"} {
		code, out, errs := execute(t, c, "trace", "client", "--color", "never", "-o", output)
		if code != 0 {
			t.Fatalf("-o %s: exit %d: %s", output, code, errs)
		}
		if n := strings.Count(out, `"schema":1`); output == "json" && n != 3 {
			t.Errorf("-o json: %d journeys, want 3:\n%s", n, out)
		}
		if output == "text" && (!strings.Contains(out, "journey 1") || !strings.Contains(out, "journey 3") || strings.Contains(out, "\x1b[")) {
			t.Errorf("-o text:\n%s", out)
		}
		for _, want := range []string{"tracing pod shop/client (10.244.1.5) on node-a", "node filter: --host 10.244.1.5/32",
			"[node-a] pktlife: 3 journeys, 0 events lost"} {
			if !strings.Contains(errs, want) {
				t.Errorf("-o %s: stderr lacks %q:\n%s", output, want, errs)
			}
		}
		if _, err := c.CoreV1().Pods("shop").Get(context.Background(), "pktlife-t1-node-a", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("-o %s: node pod left behind: %v", output, err)
		}
	}
}

func TestHelpAndCompletion(t *testing.T) {
	code, out, _ := execute(t, cluster(), "trace", "--help")
	if code != 0 || !strings.Contains(out, "kubectl pktlife trace POD [--to") || !strings.Contains(out, "--kubeconfig") ||
		!strings.Contains(out, "-n, --namespace") || !strings.Contains(out, "--context") {
		t.Errorf("help: exit %d\n%s", code, out)
	}
	code, out, _ = execute(t, cluster(), "completion", "bash")
	if code != 0 || !strings.Contains(out, "__start_kubectl-pktlife") {
		t.Errorf("completion bash: exit %d, %d bytes", code, len(out))
	}
	code, out, _ = execute(t, cluster(), "__complete", "trace", "")
	if code != 0 || !strings.HasPrefix(out, "client\nserver\n:4") {
		t.Errorf("complete pods: %q", out)
	}
	code, out, _ = execute(t, cluster(), "__complete", "trace", "client", "--to", "svc/")
	if code != 0 || !strings.HasPrefix(out, "svc/web\n") {
		t.Errorf("complete --to svc/: %q", out)
	}
}
