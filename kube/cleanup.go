package kube

import (
	"context"
	"errors"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Cleanup deletes the node pods the plugin left behind (when it was killed
// before it could delete them) in namespace ns, or in all namespaces when
// ns is "". With dryRun it only lists them. It returns "namespace/name" of
// each pod found.
func Cleanup(ctx context.Context, c kubernetes.Interface, ns string, dryRun bool) ([]string, error) {
	list, err := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: Selector})
	if err != nil {
		return nil, fmt.Errorf("list node pods: %w", err)
	}
	var names []string
	var errs []error
	grace := int64(0)
	for _, p := range list.Items {
		names = append(names, p.Namespace+"/"+p.Name)
		if dryRun {
			continue
		}
		err := c.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: &grace})
		if err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("delete pod %s/%s: %w", p.Namespace, p.Name, err))
		}
	}
	return names, errors.Join(errs...)
}
