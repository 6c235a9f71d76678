package main

import (
	"context"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/pktlife/pktlife/kube"
)

// nodeRunners are fake node runners: the pod on a node prints out[node]
// and exits with fail[node]; they record the pods started and deleted.
type nodeRunners struct {
	out  map[string]string
	fail map[string]error

	mu      sync.Mutex
	started []*corev1.Pod
	deleted int
}

func (rs *nodeRunners) new() kube.NodeRunner { return &nodeRunner{rs: rs} }

type nodeRunner struct {
	rs   *nodeRunners
	node string
}

func (r *nodeRunner) Start(_ context.Context, p *corev1.Pod) (io.ReadCloser, error) {
	r.rs.mu.Lock()
	defer r.rs.mu.Unlock()
	r.node = p.Spec.NodeName
	r.rs.started = append(r.rs.started, p)
	return io.NopCloser(strings.NewReader(r.rs.out[r.node])), nil
}

func (r *nodeRunner) Wait(context.Context) error { return r.rs.fail[r.node] }

func (r *nodeRunner) Delete(context.Context) error {
	r.rs.mu.Lock()
	defer r.rs.mu.Unlock()
	r.rs.deleted++
	return nil
}

// where lists the started pods as "NODE@NAMESPACE/NAME", by node.
func (rs *nodeRunners) where() []string {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	var out []string
	for _, p := range rs.started {
		out = append(out, p.Spec.NodeName+"@"+p.Namespace+"/"+p.Name)
	}
	slices.Sort(out)
	return out
}

// nodesCluster is cluster() with three nodes and a node pod left on node-a
// in kube-system.
func nodesCluster(t *testing.T) *fake.Clientset {
	t.Helper()
	c := cluster()
	ctx := context.Background()
	for _, n := range []string{"node-a", "node-b", "node-c"} {
		if _, err := c.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: n}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	left := pod("pktlife-old-node-a", "node-a", "", corev1.PodRunning)
	left.Namespace = "kube-system"
	left.Labels = map[string]string{"app.kubernetes.io/managed-by": "kubectl-pktlife"}
	if _, err := c.CoreV1().Pods("kube-system").Create(ctx, left, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	c.ClearActions()
	return c
}

const restoredA = "restored 3 tail-call slot(s) left interposed by pktlife pid 4242 (pktlife) since 2026-12-03 06:12:09 UTC, from a private mount namespace (mnt [4026532899])\n"

func TestCleanupCommand(t *testing.T) {
	c := nodesCluster(t)
	rs := &nodeRunners{out: map[string]string{"node-a": restoredA}}
	code, out, _ := executeWith(t, c, rs.new, "cleanup", "--dry-run")
	if code != 0 || out != "" || len(rs.where()) != 0 {
		t.Errorf("cleanup in shop: exit %d, %q, pods %q; want nothing found, nothing run", code, out, rs.where())
	}

	code, out, _ = executeWith(t, c, rs.new, "cleanup", "-A", "--dry-run")
	want := "would delete pod kube-system/pktlife-old-node-a\n" +
		"would run pktlife cleanup on node node-a in pod kube-system/pktlife-cleanup-t1-node-a\n"
	if code != 0 || out != want || len(rs.where()) != 0 {
		t.Errorf("cleanup -A --dry-run: exit %d, pods %q, output\n%s\nwant\n%s", code, rs.where(), out, want)
	}
	for _, a := range c.Actions() {
		if a.GetVerb() == "create" || a.GetVerb() == "delete" {
			t.Errorf("dry run sent %s %s", a.GetVerb(), a.GetResource().Resource)
		}
	}

	code, out, errs := executeWith(t, c, rs.new, "cleanup", "-A")
	want = "deleted pod kube-system/pktlife-old-node-a\n[node-a] " + restoredA
	if code != 0 || out != want {
		t.Errorf("cleanup -A: exit %d, stderr %q, output\n%s\nwant\n%s", code, errs, out, want)
	}
	// The cleanup pod runs where the node pod ran (kube-system admitted it).
	if got := rs.where(); !slices.Equal(got, []string{"node-a@kube-system/pktlife-cleanup-t1-node-a"}) || rs.deleted != 1 {
		t.Fatalf("cleanup pods %q, %d deleted", got, rs.deleted)
	}
	if p := rs.started[0]; !slices.Equal(p.Spec.Containers[0].Args, []string{"cleanup"}) || !p.Spec.HostPID {
		t.Errorf("cleanup pod runs %q, hostPID %v", p.Spec.Containers[0].Args, p.Spec.HostPID)
	}
	if _, err := c.CoreV1().Pods("kube-system").Get(context.Background(), "pktlife-old-node-a", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("leftover node pod not deleted: %v", err)
	}
}

func TestCleanupNodes(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"cleanup", "--node", "node-b", "--node", "node-c", "--node", "node-b"},
			[]string{"node-b@shop/pktlife-cleanup-t1-node-b", "node-c@shop/pktlife-cleanup-t1-node-c"}},
		{[]string{"cleanup", "-A", "--node", "node-c"},
			[]string{"node-a@kube-system/pktlife-cleanup-t1-node-a", "node-c@shop/pktlife-cleanup-t1-node-c"}},
		{[]string{"cleanup", "-A", "--all-nodes", "--node-namespace", "ops", "--image", "reg/pktlife:dev", "--image-pull-policy", "Never"},
			[]string{"node-a@ops/pktlife-cleanup-t1-node-a", "node-b@ops/pktlife-cleanup-t1-node-b", "node-c@ops/pktlife-cleanup-t1-node-c"}},
	} {
		rs := &nodeRunners{out: map[string]string{"node-a": restoredA, "node-b": "nothing to clean up\n", "node-c": "nothing to clean up\n"}}
		code, out, errs := executeWith(t, nodesCluster(t), rs.new, tc.args...)
		if code != 0 || !slices.Equal(rs.where(), tc.want) || rs.deleted != len(tc.want) {
			t.Errorf("%q: exit %d (%s), pods %q, %d deleted; want %q", tc.args, code, errs, rs.where(), rs.deleted, tc.want)
		}
		for _, w := range tc.want {
			node := w[:strings.Index(w, "@")]
			if line := "[" + node + "] " + rs.out[node]; !strings.Contains(out, line) {
				t.Errorf("%q: output lacks %q:\n%s", tc.args, line, out)
			}
		}
		if ctr := rs.started[0].Spec.Containers[0]; slices.Contains(tc.args, "--image") &&
			(ctr.Image != "reg/pktlife:dev" || ctr.ImagePullPolicy != corev1.PullNever) {
			t.Errorf("%q: image %q pull policy %q", tc.args, ctr.Image, ctr.ImagePullPolicy)
		}
	}
}

func TestCleanupNodeFails(t *testing.T) {
	rs := &nodeRunners{
		out: map[string]string{"node-a": restoredA, "node-b": "pktlife: cleanup: restore tail-call slots (pktlife cleanup retries): update map 77: permission denied\n",
			"node-c": "nothing to clean up\n"},
		fail: map[string]error{"node-b": &kube.NodeExitError{Node: "node-b", Code: 1,
			Message: "pktlife: cleanup: restore tail-call slots (pktlife cleanup retries): update map 77: permission denied"}},
	}
	code, out, errs := executeWith(t, nodesCluster(t), rs.new, "cleanup", "-A", "--all-nodes")
	if code != 1 || !strings.Contains(errs, "error: pktlife on node node-b exited with code 1: pktlife: cleanup: restore tail-call slots") {
		t.Errorf("exit %d, stderr %q; want 1 naming node-b's failure", code, errs)
	}
	if !strings.Contains(out, "[node-a] "+restoredA) || !strings.Contains(out, "[node-c] nothing to clean up\n") || rs.deleted != 3 {
		t.Errorf("the other nodes: %d pods deleted, output\n%s", rs.deleted, out)
	}
	if code, _, errs := executeWith(t, cluster(), rs.new, "cleanup", "--image-pull-policy", "Sometimes"); code != 2 {
		t.Errorf("a bad pull policy: exit %d, %s", code, errs)
	}
}
