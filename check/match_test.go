package check

import (
	"strings"
	"testing"
	"time"

	"github.com/pktlife/pktlife/trace/journey"
)

func recordGood(t *testing.T, chains bool) Expect {
	t.Helper()
	return ExpectFromJourney(PacketFirst, goodUDP(), RecordOptions{Chains: chains})
}

func TestRecordedPathShape(t *testing.T) {
	e := recordGood(t, true)
	var got []string
	for _, s := range e.Path {
		got = append(got, s.String())
	}
	want := []string{
		"...",
		"tc-egress dev=eth0 netns=pktlife-demo-*-poda progs=[] chain=none",
		"...",
		"tc-ingress dev=lxc-poda netns=pktlife-demo-*-node progs=[demo_from_pod] chain=[demo_calls/0] demo_nat → [demo_calls/1] demo_policy",
		"...",
		"tc-egress dev=lxc-podb netns=pktlife-demo-*-node progs=[] chain=none dnat dst→10.244.2.2:8080",
		"...",
		"tc-ingress dev=eth0 netns=pktlife-demo-*-podb progs=[] chain=none",
		"...",
		"sock_deliver dev=eth0 netns=pktlife-demo-*-podb",
		"...",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("recorded path:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if e.Fate != journey.FateDelivered || !e.NATSet || len(e.NAT) != 1 || e.NAT[0].String() != "dnat dst→10.244.2.2:8080" {
		t.Errorf("fate %s nat %v", e.Fate, e.NAT)
	}
	if o := Compare(&e, goodUDP()); !o.Pass {
		t.Errorf("the journey fails its own recording: %+v", o.Failures)
	}
}

func TestRecordAllHops(t *testing.T) {
	j := goodUDP()
	e := ExpectFromJourney(PacketFirst, j, RecordOptions{AllHops: true, KeepNames: true})
	if len(e.Path) != len(j.Hops) {
		t.Errorf("all hops: %d steps for %d hops", len(e.Path), len(j.Hops))
	}
	if e.Path[0].Netns != nsA {
		t.Errorf("KeepNames: netns %q", e.Path[0].Netns)
	}
	if o := Compare(&e, j); !o.Pass {
		t.Fatalf("fails its own recording: %+v", o.Failures)
	}
	// one hop more (an ARP clone freed, say) breaks an all-hops path
	j.Hops = append(j.Hops[:3], append([]journey.Hop{{Hook: journey.HookConsumeSkb}}, j.Hops[3:]...)...)
	if o := Compare(&e, j); o.Pass {
		t.Errorf("an extra hop passed an all-hops path")
	}
}

// TestBrokenVariants checks that each broken datapath fails with the right
// first divergence.
func TestBrokenVariants(t *testing.T) {
	us := time.Microsecond
	for _, tc := range []struct {
		name     string
		chains   bool
		journey  func() *journey.Journey
		tweak    func(e *Expect)
		kind     string // the first divergence
		stepHook string // the step it is at
		msg      []string
	}{
		{
			name: "tail-call slot changed", chains: true,
			journey: func() *journey.Journey {
				b := &hb{udpJourney(func(b *hb) { b.call(0, "demo_policy") }, false)}
				return b.hop(2*us, journey.HookKfreeSkb, "lxc-poda", nsNode).drop("IP_NOROUTE").j
			},
			kind: "chain", stepHook: "tc-ingress",
			msg: []string{"chain: expected [demo_calls/0] demo_nat → [demo_calls/1] demo_policy, got [demo_calls/0] demo_policy"},
		},
		{
			name: "program removed", chains: true,
			journey: func() *journey.Journey {
				return udpJourney(func(b *hb) { b.call(0, "demo_nat").call(1, "") }, true)
			},
			kind: "chain", stepHook: "tc-ingress",
			msg: []string{"got [demo_calls/0] demo_nat → [demo_calls/1] missed"},
		},
		{
			name: "policy now drops", chains: true,
			journey: func() *journey.Journey {
				b := &hb{udpJourney(func(b *hb) { b.call(0, "demo_nat").call(1, "demo_policy") }, false)}
				return b.hop(2*us, journey.HookKfreeSkb, "lxc-poda", nsNode).nat(udp(client, backend)).drop("TC_INGRESS").j
			},
			kind: "hop", stepHook: "tc-egress",
			msg: []string{"no hop matches tc-egress dev=lxc-podb", "the journey ends at hop 8 kfree_skb dev=lxc-poda", "drop_reason=TC_INGRESS"},
		},
		{
			name: "NAT removed", chains: true,
			journey: func() *journey.Journey {
				b := &hb{udpJourney(func(b *hb) { b.call(0, "demo_nat").call(1, "demo_policy") }, false)}
				return b.hop(2*us, journey.HookKfreeSkb, "lxc-poda", nsNode).drop("IP_NOROUTE").j
			},
			kind: "nat", stepHook: "tc-egress",
			msg: []string{"the expected dnat dst→10.244.2.2:8080 never happened"},
		},
		{
			name: "NAT removed, chains not traced",
			journey: func() *journey.Journey {
				b := &hb{udpJourney(func(*hb) {}, false)}
				return b.hop(2*us, journey.HookKfreeSkb, "lxc-poda", nsNode).drop("IP_NOROUTE").j
			},
			kind: "nat", stepHook: "tc-egress",
		},
		{
			name: "budget too tight", chains: true,
			journey: goodUDP,
			tweak: func(e *Expect) {
				for i := range e.Path {
					if e.Path[i].Dev == "lxc-podb" {
						e.Path[i].Budget = time.Nanosecond
					}
				}
			},
			kind: "budget", stepHook: "tc-egress",
			msg: []string{"budget: expected ≤ 1ns, got 3.0µs"},
		},
		{
			name: "total budget", chains: true,
			journey: goodUDP,
			tweak:   func(e *Expect) { e.Total = time.Microsecond },
			kind:    "total",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := recordGood(t, tc.chains)
			if tc.tweak != nil {
				tc.tweak(&e)
			}
			if o := Compare(&e, goodUDP()); tc.tweak == nil && !o.Pass {
				t.Fatalf("the good journey fails: %+v", o.Failures)
			}
			o := Compare(&e, tc.journey())
			if o.Pass {
				t.Fatal("the broken journey passed")
			}
			f := o.Failures[0]
			if f.Kind != tc.kind {
				t.Errorf("first divergence %q (%s), want %q", f.Kind, f.Message, tc.kind)
			}
			if tc.stepHook != "" {
				if f.Step < 0 || e.Path[f.Step].Hook != tc.stepHook {
					t.Errorf("first divergence at step %d, want the %s step: %s", f.Step, tc.stepHook, f.Message)
				}
				// the rows mark exactly this step as the divergence
				n := 0
				for _, r := range o.Rows {
					if r.Status == RowDiverge {
						n++
						if r.Step != f.Step {
							t.Errorf("diverge row at step %d, failure at %d", r.Step, f.Step)
						}
					}
				}
				if n != 1 {
					t.Errorf("%d diverge rows", n)
				}
			}
			for _, m := range tc.msg {
				if !strings.Contains(f.Message, m) {
					t.Errorf("message %q lacks %q", f.Message, m)
				}
			}
		})
	}
}

func TestCompareNoJourney(t *testing.T) {
	e := recordGood(t, false)
	o := Compare(&e, nil)
	if o.Pass || o.Failures[0].Kind != "journey" {
		t.Errorf("outcome %+v", o)
	}
}

func TestCompareExtraHops(t *testing.T) {
	e := Expect{Packet: PacketFirst, Path: []Step{{Hook: "sock_send"}, {Gap: true}, {Hook: "tc-ingress", Dev: "lxc-poda"}}}
	o := Compare(&e, goodUDP())
	if o.Pass || o.Failures[0].Kind != "extra" || o.Failures[0].Hop != 8 {
		t.Errorf("outcome %+v", o.Failures)
	}
}

func TestCompareFieldsWithoutPath(t *testing.T) {
	e := Expect{Packet: PacketFirst, Fate: journey.FateDropped, DropReason: "TC_*", NATSet: true}
	o := Compare(&e, goodUDP())
	var kinds []string
	for _, f := range o.Failures {
		kinds = append(kinds, f.Kind)
	}
	if got := strings.Join(kinds, ","); got != "nat,fate,drop_reason" {
		t.Errorf("failures %s, want nat,fate,drop_reason", got)
	}
	if o.Rows != nil {
		t.Errorf("rows without a path: %+v", o.Rows)
	}
}

func TestChainPatterns(t *testing.T) {
	tcs := goodUDP().Hops[6].TailCalls
	for _, tc := range []struct {
		pat  string
		want bool
	}{
		{"[demo_calls/0] demo_nat|[demo_calls/1] demo_policy", true},
		{"demo_nat|demo_policy", true},
		{"...|demo_policy", true},
		{"demo_nat|...", true},
		{"...", true},
		{"[*/*] demo_*|[demo_calls/1] *", true},
		{"demo_nat", false},
		{"[demo_calls/1] demo_nat|...", false},
		{"demo_nat|[demo_calls/1] missed", false},
		{"...|demo_nat", false},
	} {
		var pat []ChainStep
		for _, s := range strings.Split(tc.pat, "|") {
			cs, err := ParseChainStep(s)
			if err != nil {
				t.Fatalf("parse %q: %v", s, err)
			}
			pat = append(pat, cs)
		}
		if got := chainMatch(pat, tcs); got != tc.want {
			t.Errorf("chain %s = %v, want %v", tc.pat, got, tc.want)
		}
	}
	if !chainMatch(nil, nil) || chainMatch(nil, tcs) {
		t.Error("empty chain pattern must match only no tail calls")
	}
}

func TestLoosenName(t *testing.T) {
	for in, want := range map[string]string{
		"pktlife-demo-0c0f8fed-node": "pktlife-demo-*-node",
		"lxc1a2b3c4d5e6":             "lx*",
		"pl-chk-bb1c9e3d-poda":       "pl-chk-*-poda",
		"pl-chk-deadbeef-poda":       "pl-chk-*-poda",
		"br-3f2a1b4c5d6e":            "br-*",
		"cali1234abcd567":            "cali*",
		"docker0":                    "docker0",
		"enp0s31f6":                  "enp0s31f6",
		"cilium_host":                "cilium_host",
		"flannel.1":                  "flannel.1",
		"veth8f3a2b1":                "veth*",
		"eth0":                       "eth0",
		"cni0":                       "cni0",
		"cilium_calls_00123":         "cilium_calls_*",
		"lxc-poda":                   "lxc-poda",
		"host":                       "host",
		"pid:4242(nginx)":            "pid:*(nginx)",
		"odd*name":                   `odd\*name`,
	} {
		if got := LoosenName(in); got != want {
			t.Errorf("LoosenName(%q) = %q, want %q", in, got, want)
		}
		if !globMatch(LoosenName(in), in) {
			t.Errorf("LoosenName(%q) does not match its input", in)
		}
	}
}

func TestBudgets(t *testing.T) {
	for _, tc := range []struct {
		d, want time.Duration
		factor  float64
	}{
		{13 * time.Microsecond, 200 * time.Microsecond, 10},
		{40 * time.Microsecond, 100 * time.Microsecond, 2},
		{100 * time.Nanosecond, 10 * time.Microsecond, 10}, // the floor
		{3 * time.Millisecond, 5 * time.Millisecond, 1.5},
	} {
		if got := budget(tc.d, RecordOptions{BudgetFactor: tc.factor, BudgetFloor: 10 * time.Microsecond}); got != tc.want {
			t.Errorf("budget(%s × %g) = %s, want %s", tc.d, tc.factor, got, tc.want)
		}
	}
	if got := budget(time.Microsecond, RecordOptions{BudgetFactor: 10}); got != DefaultBudgetFloor {
		t.Errorf("default floor: %s", got)
	}
	e := ExpectFromJourney(PacketFirst, goodUDP(), RecordOptions{BudgetFactor: 10, BudgetFloor: time.Microsecond})
	if e.Total != 500*time.Microsecond {
		t.Errorf("total %s, want 500µs for a 43µs journey", e.Total)
	}
	for _, s := range e.Path {
		if !s.Gap && (s.Budget <= 0 || s.Budget > e.Total) {
			t.Errorf("step %s budget %s", s.String(), s.Budget)
		}
	}
	if o := Compare(&e, goodUDP()); !o.Pass {
		t.Errorf("fails its own budgets: %+v", o.Failures)
	}
}

// TestRowsShowEveryStep checks that a passing alignment shows every step,
// empty gaps included, and every hop exactly once, in order.
func TestRowsShowEveryStep(t *testing.T) {
	e := recordGood(t, true)
	j := goodUDP()
	o := Compare(&e, j)
	steps := map[int]bool{}
	hop := -1
	for _, r := range o.Rows {
		steps[r.Step] = true
		if r.Hop >= 0 {
			if r.Hop != hop+1 {
				t.Errorf("row hop %d after %d", r.Hop, hop)
			}
			hop = r.Hop
		}
	}
	if hop != len(j.Hops)-1 {
		t.Errorf("last hop shown %d of %d", hop, len(j.Hops))
	}
	for i := range e.Path {
		if !steps[i] {
			t.Errorf("step %d (%s) not shown", i, e.Path[i].String())
		}
	}
}
