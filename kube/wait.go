package kube

import (
	"context"
	"errors"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
)

// errPodDeleted ends a wait for a pod that was deleted.
var errPodDeleted = fmt.Errorf("%w: it was deleted", ErrNodePodFailed)

// podCond says whether a pod reached the state waited for, or an error when
// it never will.
type podCond func(*corev1.Pod) (bool, error)

// waitPod watches the pod until cond holds, cond fails or ctx ends. It
// re-reads the pod and watches again when the API server closes the watch.
func waitPod(ctx context.Context, c kubernetes.Interface, ns, name string, cond podCond) (*corev1.Pod, error) {
	pods := c.CoreV1().Pods(ns)
	var last *corev1.Pod
	for {
		p, err := pods.Get(ctx, name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			return nil, errPodDeleted
		case err != nil && ctx.Err() != nil:
			return nil, waitTimeout(ctx, last)
		case err != nil:
			return nil, fmt.Errorf("get pod: %w", err)
		}
		last = p
		if ok, err := cond(p); ok || err != nil {
			return p, err
		}
		w, err := pods.Watch(ctx, metav1.ListOptions{
			FieldSelector:   fields.OneTermEqualSelector("metadata.name", name).String(),
			ResourceVersion: p.ResourceVersion,
		})
		if err != nil {
			if ctx.Err() != nil {
				return nil, waitTimeout(ctx, last)
			}
			return nil, fmt.Errorf("watch pod: %w", err)
		}
		p, done, err := drain(ctx, w, name, cond, &last)
		w.Stop()
		if done {
			return p, err
		}
	}
}

// drain reads watch events until cond decides (done) or the watch closes
// (not done: read the pod again).
func drain(ctx context.Context, w watch.Interface, name string, cond podCond, last **corev1.Pod) (*corev1.Pod, bool, error) {
	for {
		select {
		case <-ctx.Done():
			return nil, true, waitTimeout(ctx, *last)
		case ev, ok := <-w.ResultChan():
			if !ok {
				return nil, false, nil
			}
			p, isPod := ev.Object.(*corev1.Pod)
			switch {
			case ev.Type == watch.Error:
				return nil, false, nil // e.g. resource version too old: start over
			case ev.Type == watch.Bookmark, !isPod || p.Name != name:
				continue
			case ev.Type == watch.Deleted:
				return nil, true, errPodDeleted
			}
			*last = p
			if ok, err := cond(p); ok || err != nil {
				return p, true, err
			}
		}
	}
}

// waitTimeout says what the pod was doing when the wait gave up.
func waitTimeout(ctx context.Context, last *corev1.Pod) error {
	err := ctx.Err()
	if errors.Is(err, context.DeadlineExceeded) && last != nil {
		return fmt.Errorf("timed out: %w (last seen: %s)", err, describe(last))
	}
	return err
}

// describe is a pod's phase and why, e.g. "Pending: ContainerCreating".
func describe(p *corev1.Pod) string {
	s := string(p.Status.Phase)
	if s == "" {
		s = "Pending"
	}
	st := containerState(p)
	switch {
	case st.Waiting != nil:
		s += ": " + st.Waiting.Reason
		if m := firstLine(st.Waiting.Message); m != "" {
			s += ": " + m
		}
	case p.Status.Reason != "":
		s += ": " + p.Status.Reason
		if m := firstLine(p.Status.Message); m != "" {
			s += ": " + m
		}
	}
	return s
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}

// containerState is the tracer container's state (zero if not reported).
func containerState(p *corev1.Pod) corev1.ContainerState {
	for _, cs := range p.Status.ContainerStatuses {
		if cs.Name == ContainerName {
			return cs.State
		}
	}
	return corev1.ContainerState{}
}

// fatalWaiting are container waiting reasons that do not heal by waiting.
var fatalWaiting = map[string]bool{
	"ErrImagePull":               true,
	"ImagePullBackOff":           true,
	"InvalidImageName":           true,
	"ErrImageNeverPull":          true,
	"CreateContainerConfigError": true,
	"CreateContainerError":       true,
	"RunContainerError":          true,
}

// privateMount is how containerd refuses a mountPropagation of
// HostToContainer (or Bidirectional) on a host path whose mount on the
// node propagates nothing: `path "/run/netns" is mounted on "/" but it is
// not a shared or slave mount`. systemd makes every mount shared; nodes
// without it (a minimal init, some VMs) keep them private.
const (
	privateMount     = "not a shared or slave mount"
	privateMountHint = "node pods follow the node's /sys/fs/bpf and /run/netns with mountPropagation HostToContainer, " +
		"which needs the node mount that holds them to be shared, as systemd makes every mount; on this node it is private: " +
		"make it shared (e.g. mount --make-rshared / on the node)"
)

// started holds once the tracer container runs or ran.
func started(p *corev1.Pod) (bool, error) {
	st := containerState(p)
	switch {
	case st.Running != nil, st.Terminated != nil:
		return true, nil
	case p.Status.Phase == corev1.PodFailed || p.Status.Phase == corev1.PodSucceeded:
		return false, fmt.Errorf("%w: %s", ErrNodePodFailed, describe(p))
	case st.Waiting != nil && fatalWaiting[st.Waiting.Reason]:
		if mentionsBTF(st.Waiting.Message) {
			return false, fmt.Errorf("%w: %s (the kernel needs CONFIG_DEBUG_INFO_BTF)", ErrNoBTF, describe(p))
		}
		if strings.Contains(st.Waiting.Message, privateMount) {
			return false, fmt.Errorf("%w: %s (%s)", ErrNodePodFailed, describe(p), privateMountHint)
		}
		return false, fmt.Errorf("%w: %s", ErrNodePodFailed, describe(p))
	}
	return false, nil
}

// terminated holds once the tracer container exited or the pod ended.
func terminated(p *corev1.Pod) (bool, error) {
	if containerState(p).Terminated != nil {
		return true, nil
	}
	return p.Status.Phase == corev1.PodFailed || p.Status.Phase == corev1.PodSucceeded, nil
}
