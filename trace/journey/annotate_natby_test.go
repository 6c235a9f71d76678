package journey

import "testing"

// TestNATByProgram: a change first seen at a later hop goes to the tc hop
// whose chain made it, and to the program after which the shims saw it;
// without per-jump tuples, to the hop alone, inferred.
func TestNATByProgram(t *testing.T) {
	old := tup(17, "10.0.0.1:4000", "10.96.0.10:80", 1)
	dnat := tup(17, "10.0.0.1:4000", "10.244.2.2:8080", 1)
	mk := func(jumpTuples ...Tuple) *Journey {
		tc := Hop{Index: 2, Hook: HookTCIngress, Tuple: old, Progs: []Prog{{Name: "from_pod"}}}
		for i, tu := range jumpTuples {
			tc.TailCalls = append(tc.TailCalls, TailCall{Slot: uint32(i), Prog: Prog{Name: []string{"lb", "ct", "policy"}[i]}, Tuple: tu})
		}
		return &Journey{Hops: []Hop{
			{Index: 1, Hook: HookNetifReceiveSkb, Tuple: old},
			tc,
			{Index: 3, Hook: HookTCEgress, Tuple: dnat, NATFrom: &old},
		}}
	}
	cases := []struct {
		name     string
		j        *Journey
		prog     string
		inferred bool
	}{
		{"shims saw it after lb", mk(old, dnat, dnat), "lb", false},
		{"shims saw it after the entry program", mk(dnat, dnat), "from_pod", false},
		{"no jump saw it", mk(old, old), "", true},
		{"no per-jump tuples", mk(Tuple{}, Tuple{}), "", true},
	}
	for _, c := range cases {
		natChanges{}.Annotate(c.j)
		natByProgram{}.Annotate(c.j)
		if len(c.j.NAT) != 1 {
			t.Fatalf("%s: NAT %+v, want one", c.name, c.j.NAT)
		}
		n := c.j.NAT[0]
		if n.Hop != 3 || n.ByHop != 2 || n.Prog != c.prog || n.Inferred != c.inferred {
			t.Errorf("%s: NAT seen at %d by hop %d prog %q inferred %v; want 3, 2, %q, %v", c.name, n.Hop, n.ByHop, n.Prog, n.Inferred, c.prog, c.inferred)
		}
	}
	// A tc hop that already saw the new tuple did not make the change.
	j := mk(dnat)
	j.Hops[1].Tuple = dnat
	natChanges{}.Annotate(j)
	natByProgram{}.Annotate(j)
	if j.NAT[0].ByHop != 0 {
		t.Errorf("NAT attributed to a hop that saw the new tuple at its entry: %+v", j.NAT[0])
	}
}
