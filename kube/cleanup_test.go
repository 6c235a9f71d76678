package kube

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	k8stesting "k8s.io/client-go/testing"
)

func TestCleanup(t *testing.T) {
	c := testCluster()
	ctx := context.Background()
	plan := testPlan(t, "pod/server", Filter{})
	for _, ns := range []string{"shop", "kube-system"} {
		for _, p := range NodePods(plan, PodOptions{Namespace: ns}) {
			if _, err := c.CoreV1().Pods(ns).Create(ctx, p, metaCreate); err != nil {
				t.Fatal(err)
			}
		}
	}
	count := func(ns string) int {
		l, err := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return len(l.Items)
	}
	before := count("shop") // the app's own pods and two node pods

	names, err := Cleanup(ctx, c, "shop", true)
	if err != nil || len(names) != 2 || count("shop") != before {
		t.Errorf("dry run: %q, %v; %d pods left of %d", names, err, count("shop"), before)
	}
	names, err = Cleanup(ctx, c, "shop", false)
	if err != nil || len(names) != 2 || count("shop") != before-2 || count("kube-system") != 2 {
		t.Errorf("shop: %q, %v; %d pods left in shop, %d in kube-system", names, err, count("shop"), count("kube-system"))
	}
	left, err := Cleanup(ctx, c, "", false)
	if err != nil || len(left) != 2 || !strings.HasPrefix(left[0].String(), "kube-system/pktlife-") || count("kube-system") != 0 {
		t.Errorf("all namespaces: %q, %v", left, err)
	}
	if nodes := slices.Sorted(slices.Values([]string{left[0].Node, left[1].Node})); !slices.Equal(nodes, []string{"node-a", "node-b"}) {
		t.Errorf("leftovers on nodes %q, want node-a and node-b", nodes)
	}
	if _, err := c.CoreV1().Pods("shop").Get(ctx, "client", metaGet); err != nil {
		t.Errorf("cleanup deleted an app pod: %v", err)
	}
	if graces := deleteGraces(c); len(graces) != 4 || slices.ContainsFunc(graces, func(g int64) bool { return g != 30 }) {
		t.Errorf("delete calls with grace periods %v, want 4 with 30 s: pktlife must have time to restore", graces)
	}
}

// A node pod of an older plugin asked for a grace period too short to
// count on; it is deleted with the plugin's.
func TestCleanupGraceOfOlderPods(t *testing.T) {
	c := testCluster()
	ctx := context.Background()
	p := testNodePod(t)
	five := int64(5)
	p.Spec.TerminationGracePeriodSeconds = &five
	if _, err := c.CoreV1().Pods("shop").Create(ctx, p, metaCreate); err != nil {
		t.Fatal(err)
	}
	if _, err := Cleanup(ctx, c, "", false); err != nil {
		t.Fatal(err)
	}
	if graces := deleteGraces(c); len(graces) != 1 || graces[0] != 30 {
		t.Errorf("delete calls with grace periods %v, want one with 30 s", graces)
	}
}

func TestCleanupPod(t *testing.T) {
	p := CleanupPod("node-b", PodOptions{Namespace: "kube-system", Session: "s1", StartTimeout: 2 * time.Minute,
		Image: "reg/pktlife:dev", PullPolicy: corev1.PullIfNotPresent})
	s := p.Spec
	if p.Name != "pktlife-cleanup-s1-node-b" || p.Namespace != "kube-system" || s.NodeName != "node-b" {
		t.Errorf("pod %s/%s on %q", p.Namespace, p.Name, s.NodeName)
	}
	checkStateOnHost(t, p)
	ctr := s.Containers[0]
	if !slices.Equal(ctr.Command, []string{"pktlife"}) || !slices.Equal(ctr.Args, []string{"cleanup"}) {
		t.Errorf("command %q %q, want pktlife cleanup", ctr.Command, ctr.Args)
	}
	if ctr.Image != "reg/pktlife:dev" || ctr.ImagePullPolicy != corev1.PullIfNotPresent {
		t.Errorf("image %q pull policy %q", ctr.Image, ctr.ImagePullPolicy)
	}
	if !s.HostNetwork || s.RestartPolicy != corev1.RestartPolicyNever || len(s.Tolerations) != 1 {
		t.Errorf("hostNetwork %v restart %v tolerations %v", s.HostNetwork, s.RestartPolicy, s.Tolerations)
	}
	if d := s.ActiveDeadlineSeconds; d == nil || *d != 120+60 {
		t.Errorf("activeDeadlineSeconds %v, want the start timeout and a minute", d)
	}
	// The same host mounts as the node pods, labelled so that a later
	// cleanup finds it.
	np := testNodePod(t)
	if !reflect.DeepEqual(s.Volumes, np.Spec.Volumes) || !reflect.DeepEqual(ctr.VolumeMounts, np.Spec.Containers[0].VolumeMounts) {
		t.Errorf("volumes differ from the node pod's:\n%+v\n%+v", s.Volumes, np.Spec.Volumes)
	}
	sel, err := labels.Parse(Selector)
	if err != nil {
		t.Fatal(err)
	}
	if !sel.Matches(labels.Set(p.Labels)) || p.Labels[LabelComponent] != "node-cleanup" || p.Labels[LabelSession] != "s1" {
		t.Errorf("labels %v", p.Labels)
	}
}

func TestCleanupPods(t *testing.T) {
	c := testCluster()
	ctx := context.Background()
	for _, n := range []string{"node-a", "node-b", "node-c"} {
		if _, err := c.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: n}}, metaCreate); err != nil {
			t.Fatal(err)
		}
	}
	left := []Leftover{{"kube-system", "pktlife-x-node-b", "node-b"}, {"kube-system", "pktlife-y-node-b", "node-b"},
		{"tracing", "pktlife-z-node-c", "node-c"}}
	where := func(pods []*corev1.Pod) string {
		var s []string
		for _, p := range pods {
			s = append(s, p.Spec.NodeName+"@"+p.Namespace)
		}
		return strings.Join(s, " ")
	}
	for _, tc := range []struct {
		name  string
		left  []Leftover
		named []string
		all   bool
		ns    string
		want  string
	}{
		{"nothing", nil, nil, false, "", ""},
		{"leftovers' nodes, in their namespaces", left, nil, false, "", "node-b@kube-system node-c@tracing"},
		{"--node", left[:1], []string{"node-a", "node-b", "node-a"}, false, "", "node-a@shop node-b@kube-system"},
		{"--all-nodes", left[:1], nil, true, "", "node-a@shop node-b@kube-system node-c@shop"},
		{"--node-namespace", left, []string{"node-a"}, false, "ops", "node-a@ops node-b@ops node-c@ops"},
	} {
		pods, err := CleanupPods(ctx, c, tc.left, tc.named, tc.all, PodOptions{Namespace: tc.ns, Session: "s1"}, "shop")
		if err != nil || where(pods) != tc.want {
			t.Errorf("%s: %q, %v; want %q", tc.name, where(pods), err, tc.want)
		}
	}
}

func TestWaitGone(t *testing.T) {
	c := testCluster()
	ctx := context.Background()
	if err := WaitGone(ctx, c, []Leftover{{"shop", "gone", "node-a"}}); err != nil {
		t.Errorf("a pod already gone: %v", err)
	}
	tctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if err := WaitGone(tctx, c, []Leftover{{"shop", "client", "node-a"}}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a pod that stays: %v, want a timeout", err)
	}

	// A terminating pod: the kubelet's view, through the watch.
	c, fw := runnerCluster(t, nil)
	pod := testNodePod(t)
	if _, err := c.CoreV1().Pods("shop").Create(ctx, pod, metaCreate); err != nil {
		t.Fatal(err)
	}
	go func() {
		fw.Modify(withState(pod, corev1.PodRunning, stRunning))
		fw.Delete(pod)
	}()
	tctx, cancel = context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := WaitGone(tctx, c, []Leftover{{"shop", pod.Name, "node-a"}}); err != nil {
		t.Errorf("a pod deleted while waited for: %v", err)
	}
}

// TestCleanupThroughAPI runs cleanup pods on the fake API: each node's
// lines come out prefixed by its node, a node whose cleanup fails does not
// stop the others, and every pod is deleted.
func TestCleanupThroughAPI(t *testing.T) {
	fc := testCluster()
	fc.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		p := a.(k8stesting.CreateAction).GetObject().(*corev1.Pod)
		st := exited(0, "")
		if p.Spec.NodeName == "node-b" {
			st = exited(1, "pktlife: cleanup: restore tail-call slots (pktlife cleanup retries): update map 77: permission denied")
		}
		p.Status = withState(p, corev1.PodSucceeded, st).Status
		return false, nil, nil // let the tracker store it
	})
	out := map[string]string{
		"node-a": "restored 2 tail-call slot(s) left interposed by pktlife pid 4242 (pktlife)\n[cil_calls_01/3] was replaced by its owner while pktlife traced (now program 9, x); left alone\n",
		"node-b": "pktlife: cleanup: restore tail-call slots (pktlife cleanup retries): update map 77: permission denied\n",
		"node-c": "nothing to clean up\n",
	}
	c := logClient{fc, func(pod string) []byte { return []byte(out[pod[strings.LastIndex(pod, "node-"):]]) }}
	pods, err := CleanupPods(context.Background(), c, nil, []string{"node-a", "node-b", "node-c"}, false,
		PodOptions{Session: "s1"}, "shop")
	if err != nil {
		t.Fatal(err)
	}
	var stdout, status bytes.Buffer
	s := &Session{
		Pods: pods,
		NewRunner: func() NodeRunner {
			return &APIRunner{Client: c, StartTimeout: 5 * time.Second, ExitTimeout: 5 * time.Second}
		},
		Status:    &status,
		NodeOut:   &stdout,
		KeepGoing: true,
	}
	err = s.Run(context.Background())
	var exit *NodeExitError
	if !errors.As(err, &exit) || exit.Node != "node-b" || exit.Code != 1 || strings.Count(err.Error(), "\n") != 0 {
		t.Errorf("run: %v, want node-b's exit 1 alone", err)
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	slices.Sort(lines) // the nodes' lines interleave
	want := []string{
		"[node-a] [cil_calls_01/3] was replaced by its owner while pktlife traced (now program 9, x); left alone",
		"[node-a] restored 2 tail-call slot(s) left interposed by pktlife pid 4242 (pktlife)",
		"[node-b] pktlife: cleanup: restore tail-call slots (pktlife cleanup retries): update map 77: permission denied",
		"[node-c] nothing to clean up",
	}
	if !slices.Equal(lines, want) {
		t.Errorf("output:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	if !strings.Contains(status.String(), "starting node pod shop/pktlife-cleanup-s1-node-a on node node-a") {
		t.Errorf("status:\n%s", status.String())
	}
	for _, p := range pods {
		if _, err := c.CoreV1().Pods("shop").Get(context.Background(), p.Name, metaGet); !apierrors.IsNotFound(err) {
			t.Errorf("cleanup pod %s left: %v", p.Name, err)
		}
	}
	if graces := deleteGraces(fc); len(graces) != 3 {
		t.Errorf("%d deletes, want 3", len(graces))
	}
}
