package kube

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// NodeRunner runs one node pod: Start creates it, waits until its tracer
// runs and returns its output (journeys as NDJSON, interleaved with the
// tracer's status lines); Wait, after that output ended, says how the tracer
// exited; Delete removes the pod. Delete is safe to call at any point, also
// when Start failed or was never called, and more than once.
type NodeRunner interface {
	Start(ctx context.Context, pod *corev1.Pod) (io.ReadCloser, error)
	Wait(ctx context.Context) error
	Delete(ctx context.Context) error
}

// APIRunner is the NodeRunner that talks to the Kubernetes API.
type APIRunner struct {
	Client       kubernetes.Interface
	StartTimeout time.Duration // default 2 minutes
	ExitTimeout  time.Duration // how long Wait waits for the exit status; default 30 s

	mu       sync.Mutex
	ns, name string
	node     string
	grace    *int64 // the pod's terminationGracePeriodSeconds
	deleted  bool
}

var _ NodeRunner = (*APIRunner)(nil)

// Start creates the pod, waits for its container to start and follows its
// log.
func (r *APIRunner) Start(ctx context.Context, pod *corev1.Pod) (io.ReadCloser, error) {
	pods := r.Client.CoreV1().Pods(pod.Namespace)
	created, err := pods.Create(ctx, pod, metav1.CreateOptions{FieldManager: ManagedByPlugin})
	if err != nil {
		return nil, createError(pod.Namespace, err)
	}
	r.mu.Lock()
	r.ns, r.name, r.node = created.Namespace, created.Name, pod.Spec.NodeName
	r.grace = gracePeriod(pod)
	if r.ns == "" {
		r.ns = pod.Namespace
	}
	r.mu.Unlock()

	timeout := r.StartTimeout
	if timeout <= 0 {
		timeout = 2 * time.Minute
	}
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if _, err := waitPod(wctx, r.Client, r.ns, r.name, started); err != nil {
		return nil, fmt.Errorf("start node pod %s/%s on node %s: %w", r.ns, r.name, r.node, err)
	}
	req := pods.GetLogs(r.name, &corev1.PodLogOptions{Container: ContainerName, Follow: true})
	rc, err := req.Stream(ctx)
	if err != nil {
		return nil, fmt.Errorf("stream log of node pod %s/%s: %w", r.ns, r.name, err)
	}
	return rc, nil
}

// Wait waits for the tracer's exit status; a non-zero exit is a
// *NodeExitError.
func (r *APIRunner) Wait(ctx context.Context) error {
	r.mu.Lock()
	ns, name, node := r.ns, r.name, r.node
	r.mu.Unlock()
	if name == "" {
		return fmt.Errorf("wait for node pod: not started")
	}
	timeout := r.ExitTimeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	p, err := waitPod(wctx, r.Client, ns, name, terminated)
	if err != nil {
		return fmt.Errorf("wait for node pod %s/%s to exit: %w", ns, name, err)
	}
	if t := containerState(p).Terminated; t != nil && t.ExitCode != 0 {
		return &NodeExitError{Node: node, Pod: name, Code: t.ExitCode, Reason: t.Reason, Message: t.Message}
	}
	if p.Status.Phase == corev1.PodFailed && containerState(p).Terminated == nil {
		// Killed before the container ran: deadline exceeded, evicted, rejected.
		return &NodeExitError{Node: node, Pod: name, Code: -1, Reason: p.Status.Reason, Message: p.Status.Message}
	}
	return nil
}

// Delete removes the pod with the pod's own grace period, so that a
// pktlife still running gets SIGTERM and puts back what it interposed
// before it is killed; it returns once the API server accepted the
// deletion. A pod already gone is not an error.
func (r *APIRunner) Delete(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.name == "" || r.deleted {
		return nil
	}
	err := r.Client.CoreV1().Pods(r.ns).Delete(ctx, r.name, metav1.DeleteOptions{GracePeriodSeconds: r.grace})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete node pod %s/%s: %w (clean up with: kubectl delete pod -n %s %s)", r.ns, r.name, err, r.ns, r.name)
	}
	r.deleted = true
	return nil
}

// gracePeriod is the time a node pod's pktlife gets between SIGTERM and
// SIGKILL when the pod is deleted: the pod's own, and at least GracePeriod
// (pods of older plugins asked for less).
func gracePeriod(p *corev1.Pod) *int64 {
	g := int64(GracePeriod / time.Second)
	if t := p.Spec.TerminationGracePeriodSeconds; t != nil && *t > g {
		g = *t
	}
	return &g
}

// Name is the created pod's name, or "" before Start created it.
func (r *APIRunner) Name() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.name
}

// DryRunCreate sends the pods to the API server with dryRun=All: admission
// (PodSecurity, policy engines, RBAC) judges them, nothing is created. It
// returns the pods as the server would have created them.
func DryRunCreate(ctx context.Context, c kubernetes.Interface, pods []*corev1.Pod) ([]*corev1.Pod, error) {
	out := make([]*corev1.Pod, 0, len(pods))
	for _, p := range pods {
		got, err := c.CoreV1().Pods(p.Namespace).Create(ctx, p, metav1.CreateOptions{
			DryRun: []string{metav1.DryRunAll}, FieldManager: ManagedByPlugin})
		if err != nil {
			return nil, createError(p.Namespace, err)
		}
		got.APIVersion, got.Kind = "v1", "Pod"
		out = append(out, got)
	}
	return out, nil
}
