package kube

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Leftover is a pod of the plugin that Cleanup found: a node pod whose
// plugin was killed before it could delete it, or a cleanup pod.
type Leftover struct {
	Namespace, Name string
	Node            string // where it ran
}

func (l Leftover) String() string { return l.Namespace + "/" + l.Name }

// Cleanup deletes the pods the plugin left behind (when it was killed
// before it could delete them) in namespace ns, or in all namespaces when
// ns is "". Each is deleted with its grace period, so that a pktlife still
// running puts back what it interposed. With dryRun it only lists them.
func Cleanup(ctx context.Context, c kubernetes.Interface, ns string, dryRun bool) ([]Leftover, error) {
	list, err := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: Selector})
	if err != nil {
		return nil, fmt.Errorf("list node pods: %w", err)
	}
	var left []Leftover
	var errs []error
	for _, p := range list.Items {
		left = append(left, Leftover{Namespace: p.Namespace, Name: p.Name, Node: p.Spec.NodeName})
		if dryRun {
			continue
		}
		err := c.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: gracePeriod(&p)})
		if err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("delete pod %s/%s: %w", p.Namespace, p.Name, err))
		}
	}
	return left, errors.Join(errs...)
}

// WaitGone waits until the deleted pods are gone from the API, that is
// until their pktlife exited (having restored what it could) or was
// killed, or until ctx ends.
func WaitGone(ctx context.Context, c kubernetes.Interface, left []Leftover) error {
	for _, l := range left {
		_, err := waitPod(ctx, c, l.Namespace, l.Name, func(*corev1.Pod) (bool, error) { return false, nil })
		if err != nil && !errors.Is(err, errPodDeleted) {
			return fmt.Errorf("wait for pod %s to go: %w", l, err)
		}
	}
	return nil
}

// CleanupPods builds the cleanup pods (CleanupPod) to run: one on every
// node of the cluster with all, else on each node of the leftovers and
// each of named, in node order. A pod goes into o.Namespace when it is set,
// else into the namespace of a leftover on its node (which admitted a
// privileged pod), else into fallbackNS.
func CleanupPods(ctx context.Context, c kubernetes.Interface, left []Leftover, named []string, all bool, o PodOptions, fallbackNS string) ([]*corev1.Pod, error) {
	ns := map[string]string{} // node → namespace of its cleanup pod
	for _, n := range named {
		ns[n] = cmp.Or(o.Namespace, fallbackNS)
	}
	if all {
		list, err := c.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, fmt.Errorf("list nodes: %w", err)
		}
		for _, n := range list.Items {
			ns[n.Name] = cmp.Or(o.Namespace, fallbackNS)
		}
	}
	for _, l := range left {
		if l.Node != "" {
			ns[l.Node] = cmp.Or(o.Namespace, l.Namespace)
		}
	}
	if o.Session == "" {
		o.Session = NewSession()
	}
	var pods []*corev1.Pod
	for _, node := range slices.Sorted(maps.Keys(ns)) {
		o.Namespace = ns[node]
		pods = append(pods, CleanupPod(node, o))
	}
	return pods, nil
}
