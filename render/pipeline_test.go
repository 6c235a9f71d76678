package render

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/pktlife/pktlife/trace/journey"
)

// TestCorrelatorOutput renders what the real correlator makes of an event
// stream (a pod's UDP packet DNATed by a tail-called program, then dropped
// by policy), not only hand-built journeys.
func TestCorrelatorOutput(t *testing.T) {
	res := &journey.Static{
		Devices: []journey.Device{
			{Name: "eth0", Ifindex: 2, Netns: nsPodA, NetnsName: "pod-a"},
			{Name: "veth-a", Ifindex: 4, Netns: nsHost, NetnsName: "host"},
		},
		Programs:    []journey.Prog{{ID: 80, Name: "demo_nat"}, {ID: 81, Name: "demo_policy"}},
		Maps:        map[uint32]string{12: "demo_calls"},
		HookProgs:   []journey.HookProgs{{Netns: nsHost, Ifindex: 4, Hook: journey.HookTCIngress, Progs: []journey.Prog{{ID: 71, Name: "demo_from_pod"}}}},
		DropReasons: map[uint32]string{95: "TC_INGRESS"},
		BootWall:    wall,
	}
	var got []*journey.Journey
	c := journey.New(journey.Options{Resolver: res, Emit: func(j *journey.Journey) { got = append(got, j) }})
	before := tuple(17, "10.244.1.2:40000", "10.96.0.10:80")
	after := tuple(17, "10.244.1.2:40000", "10.244.2.2:8080")
	ev := func(dt uint64, h journey.Hook, netns, ifindex uint32, tu journey.Tuple) journey.Event {
		return journey.Event{Time: start + dt, Skb: skbA, Hook: h, Netns: netns, Ifindex: ifindex, Len: 60, Tuple: tu,
			Flags: journey.FlagTuple | journey.FlagL4}
	}
	evs := []journey.Event{
		ev(0, journey.HookNetDevQueue, nsPodA, 2, before),
		ev(3100, journey.HookTCIngress, nsHost, 4, before),
		{Time: start + 3500, Skb: skbA, Hook: journey.HookTailCall, MapID: 12, Slot: 0, ProgID: 80},
		{Time: start + 3700, Skb: skbA, Hook: journey.HookTailCall, MapID: 12, Slot: 1, ProgID: 81},
		{Time: start + 3800, Skb: skbA, Hook: journey.HookTailCall, MapID: 12, Slot: 2},
		func() journey.Event {
			e := ev(4600, journey.HookKfreeSkb, nsHost, 4, after)
			e.Reason = 95
			return e
		}(),
	}
	for i := range evs {
		c.Add(&evs[i])
	}
	c.Flush()
	if len(got) != 1 {
		t.Fatalf("correlator made %d journeys, want 1", len(got))
	}
	text := string(renderText(t, Options{}, got...))
	for _, want := range []string{
		"udp 10.244.1.2:40000 → 10.96.0.10:80 ⇒ 10.244.2.2:8080",
		"✗ dropped: TC_INGRESS",
		"progs demo_from_pod (id 71)",
		"↳ [demo_calls/2] (empty: fell through)",
		"TC_ACT_SHOT (inferred)",
		"drop TC_INGRESS",
		"dnat  dst 10.96.0.10:80 ⇒ 10.244.2.2:8080",
		"2025-06-01 12:16:40.123456", // boot wall + 1000 s
	} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	for _, parts := range [][]string{
		{"↳ [demo_calls/0] demo_nat (id 80)", "+400ns"},
		{"↳ [demo_calls/1] demo_policy (id 81)", "+200ns"},
	} {
		if !hasLineWith(text, parts...) {
			t.Errorf("no line has %q:\n%s", parts, text)
		}
	}
	var back journey.Journey
	if err := json.Unmarshal(renderJSON(t, got...), &back); err != nil {
		t.Fatal(err)
	}
	if back.Fate != journey.FateDropped || len(back.Hops) != 3 || len(back.Hops[1].TailCalls) != 3 {
		t.Errorf("JSON lost structure: fate %q, %d hops", back.Fate, len(back.Hops))
	}
}

// hasLineWith reports whether one line of text contains all parts.
func hasLineWith(text string, parts ...string) bool {
	for _, l := range strings.Split(text, "\n") {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(l, p)
		}
		if all {
			return true
		}
	}
	return false
}
