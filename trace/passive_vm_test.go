package trace_test

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/pktlife/pktlife/demo"
	"github.com/pktlife/pktlife/internal/vm/vmtest"
	"github.com/pktlife/pktlife/trace"
	"github.com/pktlife/pktlife/trace/journey"
)

// TestVMPassiveTailCalls: with fentry/fexit on the demo's entry programs the
// tc hop carries the chain's exact final verdict, and the chain between is
// inferred from the program graph and marked so.
func TestVMPassiveTailCalls(t *testing.T) {
	release := vmtest.Require(t)
	ctx := context.Background()
	topo, err := demo.NewTopology(ctx, demo.Options{Prefix: "pl-passive"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { topo.Close() })
	dp, err := demo.LoadDatapath(topo, demo.DatapathOptions{})
	if err != nil { // no tcx before 6.6
		dp, err = demo.LoadDatapath(topo, demo.DatapathOptions{Legacy: true})
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dp.Close() })
	srv, err := demo.StartUDPEcho(ctx, topo.PodB.Path, topo.Backend())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })

	tr, journeys := start(t, trace.Options{
		Filter:    trace.Filter{Host: netip.PrefixFrom(topo.PodA.IP(), 32)},
		Netns:     demoNetns(topo),
		TailCalls: trace.TailCallsPassive,
	})
	for _, a := range tr.Attached() {
		if a.Hop == "tail-calls" && (a.Err != nil || a.Mechanism != trace.TailCallsPassive) {
			t.Fatalf("tail calls: %+v", a)
		}
	}
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := demo.UDPRoundTrip(sctx, topo.PodA.Path, topo.Service, []byte("passive")); err != nil {
		t.Fatalf("udp round trip: %v", err)
	}
	if err := demo.SendUDP(sctx, topo.PodA.Path, netip.AddrPortFrom(demo.ServiceAddr, demo.DenyPort), []byte("deny")); err != nil {
		t.Fatal(err)
	}
	// Both journeys are awaited together: the one to the VIP ends when it
	// goes idle (its free is not traced on every kernel), after the denied
	// packet's drop.
	cases := []struct {
		desc, verdict string
		want          func(*journey.Journey) bool
	}{
		{"udp to the VIP", "TC_ACT_REDIRECT", func(j *journey.Journey) bool { return j.Tuple.Dst == topo.Service && len(j.Hops) > 4 }},
		{"denied", "TC_ACT_SHOT", func(j *journey.Journey) bool { return j.Tuple.Dst.Port() == demo.DenyPort && len(j.Hops) > 4 }},
	}
	var want []func(*journey.Journey) bool
	for _, c := range cases {
		want = append(want, c.want)
	}
	chain := []string{"demo_nat", "demo_policy"}
	for n, j := range waitJourneys(t, journeys, want...) {
		desc, verdict := cases[n].desc, cases[n].verdict
		i := hopIndex(j, journey.HookTCIngress, demo.PodANodeIf, "node")
		if i < 0 {
			t.Fatalf("%s: no tc-ingress on %s: [%s]", desc, demo.PodANodeIf, hookSeq(j))
		}
		h := j.Hops[i]
		t.Logf("%s %s: verdict %s inferred=%v chain %+v", release, desc, h.Verdict, h.VerdictInferred, h.TailCalls)
		if h.Verdict != verdict || h.VerdictInferred {
			t.Errorf("%s: verdict %q (inferred %v), want exact %s", desc, h.Verdict, h.VerdictInferred, verdict)
		}
		if len(h.TailCalls) != len(chain) {
			t.Fatalf("%s: chain %+v, want %v", desc, h.TailCalls, chain)
		}
		for k, name := range chain {
			if h.TailCalls[k].Prog.Name != name || !h.TailCalls[k].Inferred {
				t.Errorf("%s: call %d = %+v, want inferred %s", desc, k, h.TailCalls[k], name)
			}
		}
	}
}
