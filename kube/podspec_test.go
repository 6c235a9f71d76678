package kube

import (
	"context"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/pktlife/pktlife/trace/shimstate"
)

func testPlan(t *testing.T, to string, f Filter) *Plan {
	t.Helper()
	plan, err := Resolve(context.Background(), testCluster(), Request{Namespace: "shop", Pod: "client", To: to, Filter: f})
	if err != nil {
		t.Fatalf("resolve: %v", err)
	}
	return plan
}

func TestNodePod(t *testing.T) {
	plan := testPlan(t, "svc/web", Filter{})
	p := NodePod(plan, "node-a", PodOptions{Namespace: "kube-system", Session: "s1", StartTimeout: 2 * time.Minute})
	s := p.Spec
	if p.Name != "pktlife-s1-node-a" || p.Namespace != "kube-system" {
		t.Errorf("pod %s/%s", p.Namespace, p.Name)
	}
	if s.NodeName != "node-a" || !s.HostNetwork || !s.HostPID || s.RestartPolicy != corev1.RestartPolicyNever {
		t.Errorf("spec: node %q hostNetwork %v hostPID %v restart %v", s.NodeName, s.HostNetwork, s.HostPID, s.RestartPolicy)
	}
	if s.ActiveDeadlineSeconds == nil || *s.ActiveDeadlineSeconds != 3600+120 {
		t.Errorf("activeDeadlineSeconds %v, want 3720", s.ActiveDeadlineSeconds)
	}
	if len(s.Tolerations) != 1 || s.Tolerations[0].Operator != corev1.TolerationOpExists || s.Tolerations[0].Key != "" {
		t.Errorf("tolerations %+v, want one that tolerates every taint", s.Tolerations)
	}
	if *s.AutomountServiceAccountToken {
		t.Error("the node pod gets a service account token it does not need")
	}
	ctr := s.Containers[0]
	if ctr.SecurityContext == nil || !*ctr.SecurityContext.Privileged {
		t.Error("container not privileged")
	}
	if ctr.Image != "ghcr.io/pktlife/pktlife:latest" || !slices.Equal(ctr.Command, []string{"pktlife"}) {
		t.Errorf("image %q command %q", ctr.Image, ctr.Command)
	}
	// The namespace's pods on the node name their network namespaces.
	wantArgs := "trace --proto tcp --src 10.244.1.5/32 --dst 10.96.0.20/32 --dport 80 --reply --output json" +
		" --netns-label 10.244.1.5=shop/client --netns-label 10.244.1.9=shop/neighbour"
	if got := strings.Join(ctr.Args, " "); got != wantArgs {
		t.Errorf("args %q, want %q", got, wantArgs)
	}
	if ctr.TerminationMessagePolicy != corev1.TerminationMessageFallbackToLogsOnError {
		t.Error("the tracer's last words would not reach the termination message")
	}
	mounts := map[string]corev1.VolumeMount{}
	for _, m := range ctr.VolumeMounts {
		mounts[m.MountPath] = m
	}
	hostPaths := map[string]string{}
	for _, v := range s.Volumes {
		hostPaths[v.Name] = v.HostPath.Path
	}
	for path, ro := range map[string]bool{"/sys/fs/bpf": false, "/sys/kernel/btf": true, "/sys/kernel/tracing": false,
		"/sys/kernel/debug": false, "/run/netns": true} {
		m, ok := mounts[path]
		if !ok || m.ReadOnly != ro || hostPaths[m.Name] != path {
			t.Errorf("mount %s: %+v (host path %q), want read-only=%v from the same host path", path, m, hostPaths[m.Name], ro)
		}
	}
	if m := mounts["/run/netns"]; m.MountPropagation == nil || *m.MountPropagation != corev1.MountPropagationHostToContainer {
		t.Error("/run/netns does not see namespaces created after the pod started")
	}
	if p.Labels[LabelManagedBy] != ManagedByPlugin || p.Labels[LabelSession] != "s1" || p.Annotations[AnnotTarget] != "shop/client" {
		t.Errorf("labels %v annotations %v", p.Labels, p.Annotations)
	}

	timed := testPlan(t, "", Filter{Duration: 30 * time.Second})
	p = NodePod(timed, "node-a", PodOptions{Session: "s1", StartTimeout: time.Minute, Image: "reg/pktlife:dev"})
	if *p.Spec.ActiveDeadlineSeconds != 30+60+60 || p.Spec.Containers[0].Image != "reg/pktlife:dev" {
		t.Errorf("with --duration 30s: deadline %d image %s", *p.Spec.ActiveDeadlineSeconds, p.Spec.Containers[0].Image)
	}
}

// checkStateOnHost fails when something in the pod's spec would keep
// pktlife's tail-call state (shadow maps, journal, lock in the node's
// bpffs) private to the pod, where it would vanish with it and leave shims
// without their shadows, or where no other pktlife or cleanup could see it:
// pktlife must reach the node's mount namespace (host PID namespace, able
// to read /proc/1/root) or be given the node's own /sys/fs/bpf, writable.
func checkStateOnHost(t *testing.T, p *corev1.Pod) {
	t.Helper()
	s := p.Spec
	if !s.HostPID {
		t.Error("hostPID is off: pktlife cannot reach the node's mount namespace through /proc/1/root")
	}
	if s.ShareProcessNamespace != nil && *s.ShareProcessNamespace {
		t.Error("shareProcessNamespace: PID 1 would be the pod's pause process, not the node's init")
	}
	if s.HostUsers != nil && !*s.HostUsers {
		t.Error("hostUsers: false puts pktlife in a user namespace, where the node's bpffs and /proc/1/root are not its own")
	}
	if len(s.Containers) != 1 || len(s.InitContainers) != 0 || len(s.EphemeralContainers) != 0 {
		t.Fatalf("%d containers, %d init containers: want pktlife alone", len(s.Containers), len(s.InitContainers))
	}
	ctr := s.Containers[0]
	if sc := ctr.SecurityContext; sc == nil || sc.Privileged == nil || !*sc.Privileged {
		t.Error("container not privileged: it could neither read /proc/1/root nor pin maps")
	}
	hostPaths := map[string]string{}
	for _, v := range s.Volumes {
		if v.HostPath == nil {
			t.Errorf("volume %s is not a host path: nothing pod-local belongs in this pod", v.Name)
			continue
		}
		hostPaths[v.Name] = v.HostPath.Path
	}
	bpffs := false
	for _, m := range ctr.VolumeMounts {
		// Nothing may cover the bpffs or the fallback state directory.
		for _, state := range []string{"/sys/fs/bpf", "/run/pktlife"} {
			if m.MountPath != state && (strings.HasPrefix(state, m.MountPath+"/") || strings.HasPrefix(m.MountPath, state+"/")) {
				t.Errorf("mount %s covers or lies in %s", m.MountPath, state)
			}
		}
		if m.MountPath != "/sys/fs/bpf" {
			continue
		}
		bpffs = true
		if hostPaths[m.Name] != "/sys/fs/bpf" || m.SubPath != "" || m.SubPathExpr != "" || m.ReadOnly {
			t.Errorf("/sys/fs/bpf is %+v from host path %q: want the node's own /sys/fs/bpf, whole and writable", m, hostPaths[m.Name])
		}
	}
	if !bpffs {
		t.Error("the node's /sys/fs/bpf is not mounted")
	}
}

func TestNodePodKeepsStateOnHost(t *testing.T) {
	p := NodePod(testPlan(t, "", Filter{TailCalls: "interpose"}), "node-a", PodOptions{Session: "s1"})
	checkStateOnHost(t, p)
	// Deleted, evicted or past its deadline, pktlife gets SIGTERM and time
	// to put the slots back before it is killed.
	if g := p.Spec.TerminationGracePeriodSeconds; g == nil || *g != 30 {
		t.Errorf("terminationGracePeriodSeconds %v, want 30", g)
	}
}

func TestNodePods(t *testing.T) {
	plan := testPlan(t, "pod/server", Filter{})
	pods := NodePods(plan, PodOptions{Namespace: "shop"})
	if len(pods) != 2 || pods[0].Spec.NodeName != "node-a" || pods[1].Spec.NodeName != "node-b" {
		t.Fatalf("pods on %v", pods)
	}
	s := pods[0].Labels[LabelSession]
	if len(s) != 8 || pods[1].Labels[LabelSession] != s {
		t.Errorf("sessions %q, %q: want one random session for both", s, pods[1].Labels[LabelSession])
	}
	out, err := PodsYAML(pods)
	if err != nil {
		t.Fatal(err)
	}
	docs := strings.Split(string(out), "\n---\n")
	if len(docs) != 2 {
		t.Fatalf("%d YAML documents, want 2", len(docs))
	}
	var back corev1.Pod
	if err := yaml.UnmarshalStrict([]byte(docs[1]), &back); err != nil {
		t.Fatalf("read back: %v", err)
	}
	if back.Spec.NodeName != "node-b" || back.Kind != "Pod" || !*back.Spec.Containers[0].SecurityContext.Privileged {
		t.Errorf("read back %s %s on %s", back.Kind, back.Name, back.Spec.NodeName)
	}
}

func TestPodName(t *testing.T) {
	long := strings.Repeat("n", 80) + ".example.com"
	for node, want := range map[string]string{
		"node-a":              "pktlife-ab12cd34-node-a",
		"Ip-10-0-1-2.Compute": "pktlife-ab12cd34-ip-10-0-1-2-compute",
		long:                  "pktlife-ab12cd34-" + strings.Repeat("n", 63-17),
	} {
		if got := podName("ab12cd34", node); got != want || len(got) > 63 {
			t.Errorf("podName(%q) = %q, want %q", node, got, want)
		}
	}
}

// The node pod tells pktlife its namespace and name, under the names
// shimstate reads, so that the owner record of the node's tail-call state
// (quoted when a second trace is refused) names the pod.
func TestNodePodNamesItselfToPktlife(t *testing.T) {
	if EnvPodNamespace != shimstate.EnvPodNamespace || EnvPodName != shimstate.EnvPodName {
		t.Fatalf("env names %q %q, shimstate reads %q %q", EnvPodNamespace, EnvPodName, shimstate.EnvPodNamespace, shimstate.EnvPodName)
	}
	for _, p := range []*corev1.Pod{
		NodePod(testPlan(t, "", Filter{TailCalls: "interpose"}), "node-a", PodOptions{Session: "s1"}),
		CleanupPod("node-a", PodOptions{Session: "s1", Namespace: "kube-system"}),
	} {
		got := map[string]string{}
		for _, e := range p.Spec.Containers[0].Env {
			if e.ValueFrom != nil && e.ValueFrom.FieldRef != nil {
				got[e.Name] = e.ValueFrom.FieldRef.FieldPath
			}
		}
		want := map[string]string{EnvPodNamespace: "metadata.namespace", EnvPodName: "metadata.name"}
		if !maps.Equal(got, want) {
			t.Errorf("%s: env %v, want %v", p.Name, got, want)
		}
	}
}
