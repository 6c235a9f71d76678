package trace

import (
	"errors"
	"slices"
	"testing"
)

func hopNames(hs []HopDef) []string {
	out := make([]string, 0, len(hs))
	for _, h := range hs {
		out = append(out, h.Name)
	}
	return out
}

// TestSelectHopsPresets checks that each preset resolves to its hops, alone
// or mixed with hop names, each hop once.
func TestSelectHopsPresets(t *testing.T) {
	var defaults []string
	for _, h := range Hops() {
		if h.Default {
			defaults = append(defaults, h.Name)
		}
	}
	cases := []struct {
		sel  []string
		want []string
	}{
		{nil, defaults},
		{[]string{"default"}, defaults},
		{[]string{"all"}, hopNames(Hops())},
		{[]string{"lean"}, []string{"sock_send", "tc-ingress", "sock_deliver", "tc-egress", "kfree_skb"}},
		{[]string{"lean", "net_dev_xmit", "tc-egress"}, []string{"sock_send", "tc-ingress", "sock_deliver", "tc-egress", "kfree_skb", "net_dev_xmit"}},
		{[]string{"net_dev_xmit", "net_dev_xmit"}, []string{"net_dev_xmit"}},
	}
	for _, c := range cases {
		got, err := selectHops(c.sel)
		if err != nil {
			t.Errorf("selectHops(%q): %v", c.sel, err)
			continue
		}
		if !slices.Equal(hopNames(got), c.want) {
			t.Errorf("selectHops(%q) = %q, want %q", c.sel, hopNames(got), c.want)
		}
	}
	if _, err := selectHops([]string{"lean", "no_such_hop"}); !errors.Is(err, ErrBadOption) {
		t.Errorf("an unknown hop beside a preset: %v, want ErrBadOption", err)
	}
	// every preset's hops are in the catalog, and lean is tc, sockets and drops
	for _, p := range Presets() {
		for _, n := range p.Hops {
			if _, ok := LookupHop(n); !ok {
				t.Errorf("preset %s names unknown hop %s", p.Name, n)
			}
		}
		if p.Name != "lean" {
			continue
		}
		for _, n := range p.Hops {
			h, _ := LookupHop(n)
			if h.Kind != KindTC && h.Kind != KindSocket && n != "kfree_skb" {
				t.Errorf("lean has %s (%s): want tc, socket and drop hops only", n, h.Kind)
			}
		}
	}
}
