package journey

import "testing"

func TestNATKind(t *testing.T) {
	old := tup(17, "10.0.0.1:4000", "10.96.0.10:80", 1)
	cases := []struct {
		new  Tuple
		want string
	}{
		{tup(17, "10.0.0.1:4000", "10.244.2.2:8080", 1), "dnat"},
		{tup(17, "10.0.0.9:5000", "10.96.0.10:80", 1), "snat"},
		{tup(17, "10.0.0.9:5000", "10.244.2.2:8080", 1), "nat"},
		{tup(6, "10.0.0.1:4000", "10.96.0.10:80", 1), "nat"}, // neither side: the protocol
	}
	for _, c := range cases {
		if got := NATKind(old, c.new); got != c.want {
			t.Errorf("NATKind(%s, %s) = %s, want %s", old, c.new, got, c.want)
		}
	}
}

// TestAnnotatorOrder: the caller's annotations run after the built-in
// ones, so they see names, fates and NAT.
func TestAnnotatorOrder(t *testing.T) {
	var b builder
	b.add(0xa, HookTCEgress, 2, fwd, 0)
	dnat := tup(17, "10.0.0.1:4000", "10.0.0.3:53", 7)
	b.add(0xa, HookNetDevXmit, 3, dnat, 0)
	b.add(0xa, HookKfreeSkb, 3, dnat, 5)
	var seen []string
	last := AnnotationFunc(func(j *Journey) {
		seen = append(seen, j.Hops[0].Device.Name, string(j.Fate), j.DropReason)
		if len(j.NAT) != 1 || j.NAT[0].Hop != 2 || j.NAT[0].Kind != "dnat" {
			t.Errorf("NAT %+v, want one dnat at hop 2", j.NAT)
		}
	})
	res := &Static{Devices: []Device{{Name: "eth0", Ifindex: 2, Netns: 1}}, DropReasons: map[uint32]string{5: "TC_INGRESS"}}
	js := run(b.evs, Options{Resolver: res, Annotations: []Annotation{last}})
	if len(js) != 1 || len(seen) != 3 || seen[0] != "eth0" || seen[1] != string(FateDropped) || seen[2] != "TC_INGRESS" {
		t.Errorf("the caller's annotation saw %q, want eth0, dropped, TC_INGRESS", seen)
	}
}
