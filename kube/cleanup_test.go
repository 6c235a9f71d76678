package kube

import (
	"context"
	"slices"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
	names, err = Cleanup(ctx, c, "", false)
	slices.Sort(names)
	if err != nil || len(names) != 2 || names[0][:len("kube-system/pktlife-")] != "kube-system/pktlife-" || count("kube-system") != 0 {
		t.Errorf("all namespaces: %q, %v", names, err)
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
