package demo

import (
	"context"
	"os"
	"slices"
	"testing"
)

func TestCleanupLeftoversSparesLiveTopology(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("kernel test: needs root to create namespaces")
	}
	topo, err := NewTopology(context.Background(), Options{Prefix: "pl-owner"})
	if err != nil {
		t.Fatal(err)
	}
	defer topo.Close()
	removed, err := CleanupLeftovers(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range topo.Namespaces() {
		if slices.Contains(removed, n.Name) {
			t.Errorf("removed %s of a live topology", n.Name)
		}
		if _, err := os.Stat(n.Path); err != nil {
			t.Errorf("%s gone: %v", n.Name, err)
		}
	}
	if err := topo.Close(); err != nil {
		t.Fatal(err)
	}
	if left, _ := ListNetns("pl-owner-" + topo.ID); len(left) != 0 {
		t.Errorf("left after Close: %v", left)
	}
}
