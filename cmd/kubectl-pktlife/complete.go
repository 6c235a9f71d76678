package main

import (
	"context"
	"strings"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// completeTimeout bounds the API calls of shell completion.
const completeTimeout = 3 * time.Second

// completePods completes running pods of the namespace.
func (a *app) completePods(cmd *cobra.Command, args []string, prefix string) ([]string, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	return a.podNames(cmd.Context(), prefix, ""), cobra.ShellCompDirectiveNoFileComp
}

// completeTargets completes --to: pods, pod/POD and svc/NAME.
func (a *app) completeTargets(cmd *cobra.Command, _ []string, prefix string) ([]string, cobra.ShellCompDirective) {
	ctx := cmd.Context()
	switch {
	case strings.HasPrefix(prefix, "svc/"):
		return a.serviceNames(ctx, prefix), cobra.ShellCompDirectiveNoFileComp
	case strings.HasPrefix(prefix, "pod/"):
		return a.podNames(ctx, prefix, "pod/"), cobra.ShellCompDirectiveNoFileComp
	}
	out := a.podNames(ctx, prefix, "")
	if strings.HasPrefix("svc/", prefix) {
		out = append(out, "svc/")
	}
	if strings.HasPrefix("pod/", prefix) {
		out = append(out, "pod/")
	}
	return out, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveNoSpace
}

func (a *app) podNames(ctx context.Context, prefix, kind string) []string {
	c, ns, err := a.newClient()
	if err != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctxOr(ctx), completeTimeout)
	defer cancel()
	list, err := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{FieldSelector: "status.phase=Running"})
	if err != nil {
		return nil
	}
	var out []string
	for _, p := range list.Items {
		if p.Status.Phase != corev1.PodRunning {
			continue // the field selector is a hint some servers (and fakes) ignore
		}
		if s := kind + p.Name; strings.HasPrefix(s, prefix) {
			out = append(out, s)
		}
	}
	return out
}

func (a *app) serviceNames(ctx context.Context, prefix string) []string {
	c, ns, err := a.newClient()
	if err != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctxOr(ctx), completeTimeout)
	defer cancel()
	list, err := c.CoreV1().Services(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil
	}
	var out []string
	for _, s := range list.Items {
		if n := "svc/" + s.Name; strings.HasPrefix(n, prefix) {
			out = append(out, n)
		}
	}
	return out
}

func ctxOr(ctx context.Context) context.Context {
	if ctx == nil {
		return context.Background()
	}
	return ctx
}
