package journey

import "testing"

// TestCiliumDrops: a jump into Cilium's drop-notification program names
// the reason Cilium handed it in cb[], on the jump, the hop and the
// dropped journey; the exit code is the hop's verdict.
func TestCiliumDrops(t *testing.T) {
	for _, prog := range []string{"__send_drop_notify", "tail_drop_notify"} {
		j := &Journey{Fate: FateDropped, DropReason: "TC_INGRESS", Hops: []Hop{
			{Index: 1, Hook: HookTCIngress, Verdict: "TC_ACT_SHOT", VerdictInferred: true, TailCalls: []TailCall{
				{Slot: 7, Prog: Prog{Name: "tail_handle_ipv4"}},
				{Slot: 1, Prog: Prog{Name: prog}, CB: [5]uint32{0xfffff, 2, 133, 0, 2 | 2<<8 | 1298<<16}},
			}},
			{Index: 2, Hook: HookKfreeSkb, DropReason: "TC_INGRESS"},
		}}
		ciliumDrops{}.Annotate(j)
		h := j.Hops[0]
		if h.DropReason != "Policy denied (133)" || j.DropReason != "Policy denied (133)" {
			t.Errorf("%s: hop drop reason %q, journey %q, want Policy denied (133)", prog, h.DropReason, j.DropReason)
		}
		if h.Verdict != "TC_ACT_SHOT" || h.VerdictInferred {
			t.Errorf("%s: verdict %s (inferred %v), want TC_ACT_SHOT observed", prog, h.Verdict, h.VerdictInferred)
		}
		if want := "Policy denied (133) at bpf_lxc.c:1298, identity 1048575 → 2"; h.TailCalls[1].Reason != want {
			t.Errorf("%s: jump reason %q, want %q", prog, h.TailCalls[1].Reason, want)
		}
		if h.TailCalls[0].Reason != "" || j.Hops[1].DropReason != "TC_INGRESS" {
			t.Errorf("%s: annotated more than the drop notification's jump: %+v", prog, j.Hops)
		}
	}
	// Anything else with the same cb words stays unnamed.
	j := &Journey{Hops: []Hop{{Hook: HookTCIngress, TailCalls: []TailCall{{Prog: Prog{Name: "demo_policy"}, CB: [5]uint32{0, 0, 133, 0, 2}}}}}}
	ciliumDrops{}.Annotate(j)
	if j.Hops[0].DropReason != "" {
		t.Errorf("a program not Cilium's got a Cilium drop reason: %q", j.Hops[0].DropReason)
	}
}
