package kube

import (
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// withState returns a copy of p with the tracer container in state st.
func withState(p *corev1.Pod, phase corev1.PodPhase, st corev1.ContainerState) *corev1.Pod {
	p = p.DeepCopy()
	p.Status.Phase = phase
	p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: ContainerName, State: st}}
	return p
}

var (
	stRunning  = corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}
	stCreating = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}
)

func exited(code int32, msg string) corev1.ContainerState {
	return corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code, Reason: "Error", Message: msg}}
}

// runnerCluster is a fake API whose pod log is logs and whose pod watch is
// driven by the test through the returned FakeWatcher.
func runnerCluster(t *testing.T, logs []byte) (*fake.Clientset, *watch.FakeWatcher) {
	t.Helper()
	c := testCluster()
	fw := watch.NewFake()
	t.Cleanup(fw.Stop)
	c.PrependWatchReactor("pods", func(k8stesting.Action) (bool, watch.Interface, error) { return true, fw, nil })
	c.PrependReactor("get", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetSubresource() != "log" {
			return false, nil, nil
		}
		opts := a.(k8stesting.GenericAction).GetValue().(*corev1.PodLogOptions)
		if !opts.Follow || opts.Container != ContainerName {
			t.Errorf("log options %+v, want follow of container %s", opts, ContainerName)
		}
		return true, &runtime.Unknown{Raw: logs}, nil
	})
	return c, fw
}

func testNodePod(t *testing.T) *corev1.Pod {
	return NodePod(testPlan(t, "", Filter{}), "node-a", PodOptions{Namespace: "shop", Session: "t1"})
}

func TestAPIRunner(t *testing.T) {
	logs, err := os.ReadFile("../testdata/kube/node-a.ndjson")
	if err != nil {
		t.Fatal(err)
	}
	c, fw := runnerCluster(t, logs)
	pod := testNodePod(t)
	r := &APIRunner{Client: c, StartTimeout: 10 * time.Second}
	go func() {
		// The kubelet's view: creating, then running. Each send waits for
		// the runner's watch to take it.
		fw.Modify(withState(pod, corev1.PodPending, stCreating))
		fw.Modify(withState(pod, corev1.PodRunning, stRunning))
	}()
	rc, err := r.Start(context.Background(), pod)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || string(got) != string(logs) {
		t.Errorf("log stream: %d bytes, %v; want the %d bytes of the fixture", len(got), err, len(logs))
	}
	if _, err := c.CoreV1().Pods("shop").UpdateStatus(context.Background(),
		withState(pod, corev1.PodSucceeded, exited(0, "")), metaUpdate); err != nil {
		t.Fatal(err)
	}
	if err := r.Wait(context.Background()); err != nil {
		t.Errorf("wait after a clean exit: %v", err)
	}
	for range 2 {
		if err := r.Delete(context.Background()); err != nil {
			t.Errorf("delete: %v", err)
		}
	}
	if _, err := c.CoreV1().Pods("shop").Get(context.Background(), pod.Name, metaGet); !apierrors.IsNotFound(err) {
		t.Errorf("pod still there after Delete: %v", err)
	}
	if graces := deleteGraces(c); len(graces) != 1 || graces[0] != 30 {
		t.Errorf("delete calls with grace periods %v, want one with 30 s (the second Delete is a no-op)", graces)
	}
}

// deleteGraces lists the grace period of each pod delete sent to c, -1
// for none (the API server's default).
func deleteGraces(c *fake.Clientset) []int64 {
	var out []int64
	for _, a := range c.Actions() {
		d, ok := a.(k8stesting.DeleteAction)
		if !ok || a.GetResource().Resource != "pods" {
			continue
		}
		g := int64(-1)
		if p := d.GetDeleteOptions().GracePeriodSeconds; p != nil {
			g = *p
		}
		out = append(out, g)
	}
	return out
}

func TestAPIRunnerStartFails(t *testing.T) {
	for _, tc := range []struct {
		name  string
		state *corev1.Pod // sent on the watch
		want  error
		msg   string
	}{
		{"image", withState(testNodePod(t), corev1.PodPending, corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{
			Reason: "ImagePullBackOff", Message: "Back-off pulling image \"ghcr.io/pktlife/pktlife:latest\""}}),
			ErrNodePodFailed, "Pending: ImagePullBackOff: Back-off pulling image"},
		{"no BTF", withState(testNodePod(t), corev1.PodPending, corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{
			Reason: "CreateContainerError", Message: "failed to mkdir /sys/kernel/btf: operation not permitted"}}),
			ErrNoBTF, "CONFIG_DEBUG_INFO_BTF"},
		// containerd 1.6 on a real node without systemd, whose / is private
		{"private mounts", withState(testNodePod(t), corev1.PodPending, corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{
			Reason: "CreateContainerError", Message: `failed to generate container "3c06" spec: failed to generate spec: path "/run/netns" is mounted on "/" but it is not a shared or slave mount`}}),
			ErrNodePodFailed, `path "/run/netns" is mounted on "/" but it is not a shared or slave mount (node pods follow the node's /sys/fs/bpf and /run/netns with mountPropagation HostToContainer, which needs the node mount that holds them to be shared`},
		{"rejected", func() *corev1.Pod {
			p := testNodePod(t).DeepCopy()
			p.Status.Phase, p.Status.Reason, p.Status.Message = corev1.PodFailed, "OutOfcpu", "Node didn't have enough resource: cpu"
			return p
		}(), ErrNodePodFailed, "Failed: OutOfcpu"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, fw := runnerCluster(t, nil)
			r := &APIRunner{Client: c, StartTimeout: 10 * time.Second}
			go fw.Modify(tc.state)
			_, err := r.Start(context.Background(), testNodePod(t))
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("start error %v, want %v with %q", err, tc.want, tc.msg)
			}
			if err := r.Delete(context.Background()); err != nil {
				t.Errorf("delete after a failed start: %v", err)
			}
		})
	}
}

func TestAPIRunnerStartTimeout(t *testing.T) {
	c, fw := runnerCluster(t, nil)
	r := &APIRunner{Client: c, StartTimeout: 50 * time.Millisecond}
	go fw.Modify(withState(testNodePod(t), corev1.PodPending, stCreating))
	_, err := r.Start(context.Background(), testNodePod(t))
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "last seen: Pending: ContainerCreating") {
		t.Errorf("error %v, want a timeout that says what the pod was doing", err)
	}
}

func TestAPIRunnerForbidden(t *testing.T) {
	c := testCluster()
	c.PrependReactor("create", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, "pktlife-t1-node-a",
			errors.New(`violates PodSecurity "baseline:latest": privileged (container "pktlife" must not set securityContext.privileged=true)`))
	})
	r := &APIRunner{Client: c}
	_, err := r.Start(context.Background(), testNodePod(t))
	if !errors.Is(err, ErrForbidden) || !strings.Contains(err.Error(), "violates PodSecurity") ||
		!strings.Contains(err.Error(), "--node-namespace") || strings.Contains(err.Error(), "\n") {
		t.Errorf("error %q, want a one-line ErrForbidden with the server's reason and what to do", err)
	}
	if err := r.Delete(context.Background()); err != nil {
		t.Errorf("delete of a pod never created: %v", err)
	}
	if _, err := DryRunCreate(context.Background(), c, []*corev1.Pod{testNodePod(t)}); !errors.Is(err, ErrForbidden) {
		t.Errorf("server dry run: %v, want ErrForbidden", err)
	}
}

func TestAPIRunnerWaitExit(t *testing.T) {
	c, fw := runnerCluster(t, nil)
	pod := testNodePod(t)
	pod.Status = withState(pod, corev1.PodRunning, stRunning).Status
	if _, err := c.CoreV1().Pods("shop").Create(context.Background(), pod, metaCreate); err != nil {
		t.Fatal(err)
	}
	r := &APIRunner{Client: c, ns: "shop", name: pod.Name, node: "node-a"} // as if Start had created it
	msg := "pktlife: load: /sys/kernel/btf/vmlinux: no such file\npktlife: this kernel has no BTF (CONFIG_DEBUG_INFO_BTF=n)"
	go fw.Modify(withState(pod, corev1.PodFailed, exited(2, msg)))
	err := r.Wait(context.Background())
	var exit *NodeExitError
	if !errors.As(err, &exit) || exit.Code != 2 || !errors.Is(err, ErrNoBTF) || !errors.Is(err, ErrNodePodFailed) {
		t.Fatalf("wait: %v, want a NodeExitError with code 2 matching ErrNoBTF", err)
	}
	want := "pktlife on node node-a exited with code 2 (refused): pktlife: this kernel has no BTF (CONFIG_DEBUG_INFO_BTF=n)"
	if err.Error() != want {
		t.Errorf("message %q\nwant    %q", err, want)
	}
}
