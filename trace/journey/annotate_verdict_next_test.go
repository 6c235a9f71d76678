package journey

import "testing"

// TestVerdictByNext: a tc hop whose programs ran gets a verdict inferred
// from the packet's next hop, and says which hop that was.
func TestVerdictByNext(t *testing.T) {
	lxcA := Device{Name: "lxc-a", Ifindex: 2, Netns: 1}
	lxcB := Device{Name: "lxc-b", Ifindex: 3, Netns: 1}
	podB := Device{Name: "eth0", Ifindex: 2, Netns: 9}
	progs := []Prog{{Name: "from_pod"}}
	cases := []struct {
		name string
		tc   Hook
		next Hop
		want string
	}{
		{"forwarded or redirected", HookTCIngress, Hop{Hook: HookTCEgress, Device: lxcB}, VerdictOKOrRedirect},
		{"to another device's ingress", HookTCIngress, Hop{Hook: HookNetifRx, Device: podB}, "TC_ACT_REDIRECT"},
		{"egress elsewhere", HookTCEgress, Hop{Hook: HookNetDevQueue, Device: lxcB}, "TC_ACT_REDIRECT"},
		{"egress sent on", HookTCEgress, Hop{Hook: HookNetDevQueue, Device: lxcA}, "TC_ACT_OK"},
		{"delivered", HookTCIngress, Hop{Hook: HookSockDeliver, Device: lxcA}, "TC_ACT_OK"},
		{"tc drop is verdictByDrop's", HookTCIngress, Hop{Hook: HookKfreeSkb, Device: lxcA, DropReason: "TC_INGRESS"}, ""},
	}
	for _, c := range cases {
		c.next.Skb, c.next.Index = 0xa, 2
		j := &Journey{Hops: []Hop{{Index: 1, Hook: c.tc, Device: lxcA, Skb: 0xa, Progs: progs}, c.next}}
		verdictByNext{}.Annotate(j)
		h := j.Hops[0]
		if h.Verdict != c.want || (c.want != "" && (!h.VerdictInferred || h.VerdictFrom() == "")) {
			t.Errorf("%s: verdict %q inferred %v from %q, want %q inferred", c.name, h.Verdict, h.VerdictInferred, h.VerdictFrom(), c.want)
		}
	}
	// No programs, no verdict; an observed verdict stays.
	j := &Journey{Hops: []Hop{{Hook: HookTCIngress, Skb: 1}, {Hook: HookSockDeliver, Skb: 1}}}
	verdictByNext{}.Annotate(j)
	if j.Hops[0].Verdict != "" {
		t.Errorf("a hook with no programs got verdict %q", j.Hops[0].Verdict)
	}
	j = &Journey{Hops: []Hop{{Hook: HookTCIngress, Skb: 1, Progs: progs, Verdict: "TC_ACT_SHOT"}, {Hook: HookSockDeliver, Skb: 1}}}
	verdictByNext{}.Annotate(j)
	if j.Hops[0].Verdict != "TC_ACT_SHOT" || j.Hops[0].VerdictInferred {
		t.Errorf("an observed verdict was replaced: %q", j.Hops[0].Verdict)
	}
}
