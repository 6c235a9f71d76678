package journey

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

// builder makes synthetic event streams.
type builder struct {
	t   uint64
	evs []Event
}

func tup(proto uint8, src, dst string, ipid uint16) Tuple {
	return Tuple{Proto: proto, Src: netip.MustParseAddrPort(src), Dst: netip.MustParseAddrPort(dst), IPID: ipid}
}

func (b *builder) add(skb Ptr, h Hook, ifindex uint32, t Tuple, reason uint32) {
	b.t += 1000
	b.evs = append(b.evs, Event{Time: b.t, Skb: skb, Hook: h, Netns: 1, Ifindex: ifindex, Tuple: t, Reason: reason, Flags: FlagTuple | FlagL4})
}

func (b *builder) gap(d time.Duration) { b.t += uint64(d) }

func run(evs []Event, opts Options) []*Journey {
	var out []*Journey
	opts.Emit = func(j *Journey) { out = append(out, j) }
	if opts.Resolver == nil {
		opts.Resolver = &Static{DropReasons: map[uint32]string{2: "NOT_SPECIFIED", 5: "TC_INGRESS"}}
	}
	c := New(opts)
	for i := range evs {
		c.Add(&evs[i])
	}
	c.Flush()
	return out
}

func hooks(j *Journey) string {
	var s []string
	for _, h := range j.Hops {
		s = append(s, h.Hook.String())
	}
	return strings.Join(s, ",")
}

var (
	fwd   = tup(17, "10.0.0.1:4000", "10.0.0.2:53", 7)
	other = tup(17, "10.0.0.9:5000", "10.0.0.8:80", 9)
)

func TestPointerReuseAfterFree(t *testing.T) {
	var b builder
	b.add(0xa, HookTCEgress, 2, fwd, 0)
	b.add(0xa, HookConsumeSkb, 2, fwd, 0)
	second := tup(17, "10.0.0.1:4000", "10.0.0.2:53", 8)
	b.add(0xa, HookTCEgress, 2, second, 0)
	b.add(0xa, HookKfreeSkb, 2, second, 5)
	js := run(b.evs, Options{})
	if len(js) != 2 {
		t.Fatalf("got %d journeys, want 2", len(js))
	}
	if js[0].Fate != FateConsumed || js[0].End != EndFree || hooks(js[0]) != "tc-egress,consume_skb" {
		t.Errorf("first: %s %s [%s]", js[0].Fate, js[0].End, hooks(js[0]))
	}
	if js[1].Fate != FateDropped || js[1].DropReason != "TC_INGRESS" || js[1].Tuple.IPID != 8 {
		t.Errorf("second: %s %q ipid %d", js[1].Fate, js[1].DropReason, js[1].Tuple.IPID)
	}
}

func TestPointerReuseWithoutFree(t *testing.T) {
	var b builder
	b.add(0xa, HookTCEgress, 2, fwd, 0)
	b.add(0xa, HookNetDevQueue, 2, fwd, 0)
	// TCP frees some skbs without a tracepoint: the next packet on the same
	// address has nothing in common with the first
	b.add(0xa, HookTCEgress, 2, other, 0)
	js := run(b.evs, Options{})
	if len(js) != 2 || js[0].End != EndReused || len(js[0].Hops) != 2 {
		t.Fatalf("want the first journey ended as reused with 2 hops, got %d journeys: %+v", len(js), js[0].End)
	}
}

func TestNAT(t *testing.T) {
	var b builder
	vip := tup(6, "10.0.0.1:4000", "10.96.0.10:80", 3)
	back := tup(6, "10.0.0.1:4000", "10.244.2.2:8080", 3)
	b.add(0xb, HookTCIngress, 2, vip, 0)
	b.add(0xb, HookTCEgress, 3, back, 0)
	b.add(0xb, HookSockDeliver, 4, back, 0)
	js := run(b.evs, Options{})
	if len(js) != 1 {
		t.Fatalf("got %d journeys", len(js))
	}
	j := js[0]
	if len(j.NAT) != 1 || j.NAT[0].Kind != "dnat" || j.NAT[0].Old.Dst != vip.Dst || j.NAT[0].New.Dst != back.Dst || j.NAT[0].Hop != 2 {
		t.Errorf("NAT = %+v", j.NAT)
	}
	if j.Hops[1].NATFrom == nil || j.Hops[1].NATFrom.Dst != vip.Dst {
		t.Errorf("hop 2 NATFrom = %v", j.Hops[1].NATFrom)
	}
	if j.Fate != FateDelivered || j.End != EndDelivered {
		t.Errorf("fate %s end %s", j.Fate, j.End)
	}
	// SNAT on the way back
	var r builder
	rep := tup(6, "10.244.2.2:8080", "10.0.0.1:4000", 4)
	r.add(0xc, HookTCIngress, 3, rep, 0)
	r.add(0xc, HookTCEgress, 2, tup(6, "10.96.0.10:80", "10.0.0.1:4000", 4), 0)
	if js := run(r.evs, Options{}); js[0].NAT[0].Kind != "snat" {
		t.Errorf("reply NAT kind %s, want snat", js[0].NAT[0].Kind)
	}
}

func TestCloneBeforeAndAfterFree(t *testing.T) {
	var b builder
	b.add(0x1, HookSockSend, 2, fwd, 0)
	b.add(0x1, HookConsumeSkb, 2, fwd, 0) // copied to a new skb, original freed
	b.add(0x2, HookTCEgress, 2, fwd, 0)   // the copy carries on
	b.add(0x3, HookConsumeSkb, 2, fwd, 0) // a tap's clone
	b.add(0x2, HookSockDeliver, 3, fwd, 0)
	js := run(b.evs, Options{})
	if len(js) != 1 {
		t.Fatalf("got %d journeys, want the copies followed as one", len(js))
	}
	j := js[0]
	if len(j.Clones) != 2 || j.Clones[0] != 0x2 || j.Clones[1] != 0x3 {
		t.Errorf("clones = %v", j.Clones)
	}
	if j.Fate != FateDelivered {
		t.Errorf("fate %s", j.Fate)
	}
	// outside the clone window a same-ID packet is a new journey
	var c builder
	c.add(0x1, HookTCEgress, 2, fwd, 0)
	c.add(0x1, HookConsumeSkb, 2, fwd, 0)
	c.gap(10 * time.Millisecond)
	c.add(0x2, HookTCEgress, 2, fwd, 0)
	if js := run(c.evs, Options{}); len(js) != 2 {
		t.Errorf("got %d journeys, want 2 outside the clone window", len(js))
	}
}

func TestCopySeenFirstUnderPostNATTuple(t *testing.T) {
	vip := tup(17, "10.0.0.1:4000", "10.96.0.10:80", 5)
	back := tup(17, "10.0.0.1:4000", "10.244.2.2:8080", 5)
	var b builder
	b.add(0x1, HookTCIngress, 2, vip, 0)
	b.add(0x2, HookConsumeSkb, 3, back, 0) // a copy freed before the original's next hop
	b.add(0x1, HookTCEgress, 3, back, 0)
	b.add(0x1, HookSockDeliver, 4, back, 0)
	js := run(b.evs, Options{})
	if len(js) != 1 {
		t.Fatalf("got %d journeys, want the post-NAT copy merged", len(js))
	}
	if got := hooks(js[0]); got != "tc-ingress,consume_skb,tc-egress,sock_deliver" {
		t.Errorf("hops %s", got)
	}
	for i, h := range js[0].Hops {
		if h.Index != i+1 {
			t.Errorf("hop %d has index %d after merge", i, h.Index)
		}
	}
}

func TestDropVerdictInferred(t *testing.T) {
	var b builder
	b.add(0x1, HookTCIngress, 2, fwd, 0)
	b.add(0x1, HookKfreeSkb, 2, fwd, 5)
	j := run(b.evs, Options{})[0]
	if j.Fate != FateDropped || j.Hops[0].Verdict != "TC_ACT_SHOT" || !j.Hops[0].VerdictInferred {
		t.Errorf("fate %s verdict %q inferred %v", j.Fate, j.Hops[0].Verdict, j.Hops[0].VerdictInferred)
	}
}

func TestUnspecifiedFreeAfterDeliveryIsNotADrop(t *testing.T) {
	var b builder
	b.add(0x1, HookSockDeliver, 2, fwd, 0)
	b.add(0x1, HookKfreeSkb, 2, fwd, 2)
	j := run(b.evs, Options{})[0]
	if j.Fate != FateDelivered || j.DropReason != "" {
		t.Errorf("fate %s reason %q, want delivered", j.Fate, j.DropReason)
	}
}

func TestEviction(t *testing.T) {
	var b builder
	for i := 0; i < 5; i++ {
		b.add(Ptr(0x100+i), HookTCEgress, 2, tup(17, "10.0.0.1:4000", "10.0.0.2:53", uint16(100+i)), 0)
	}
	var out []*Journey
	c := New(Options{MaxInFlight: 2, Emit: func(j *Journey) { out = append(out, j) }})
	for i := range b.evs {
		c.Add(&b.evs[i])
	}
	if s := c.Stats(); s.Evicted != 3 || s.InFlight != 2 {
		t.Errorf("stats %+v, want 3 evicted, 2 in flight", s)
	}
	for i, j := range out {
		if j.End != EndEvicted || j.Skb != Ptr(0x100+i) {
			t.Errorf("evicted #%d: skb %s end %s, want the oldest first", i, j.Skb, j.End)
		}
	}
}

func TestIdleAndDeliverGrace(t *testing.T) {
	var out []*Journey
	c := New(Options{Idle: time.Second, DeliverGrace: 10 * time.Millisecond, Emit: func(j *Journey) { out = append(out, j) }})
	c.Add(&Event{Time: 1000, Skb: 1, Hook: HookTCEgress, Tuple: fwd})
	c.Add(&Event{Time: 2000, Skb: 2, Hook: HookSockDeliver, Tuple: other})
	c.Expire(2000 + uint64(5*time.Millisecond))
	if len(out) != 0 {
		t.Fatalf("emitted %d journeys before any deadline", len(out))
	}
	c.Expire(2000 + uint64(11*time.Millisecond))
	if len(out) != 1 || out[0].End != EndDelivered {
		t.Fatalf("want the delivered journey after its grace, got %d", len(out))
	}
	c.Expire(1000 + uint64(time.Second) + 1)
	if len(out) != 2 || out[1].End != EndIdle || out[1].Fate != FateUnknown {
		t.Fatalf("want the idle journey after 1s, got %d", len(out))
	}
}

func TestTailCallsAttachToTCHop(t *testing.T) {
	names := &Static{Programs: []Prog{{ID: 7, Name: "ct_egress_long_name"}}, Maps: map[uint32]string{3: "calls"}}
	evs := []Event{
		{Time: 10, Skb: 1, Hook: HookTCIngress, Tuple: fwd, Flags: FlagTuple},
		{Time: 11, Skb: 1, Hook: HookTailCall, MapID: 3, Slot: 29, ProgID: 7},
		{Time: 12, Skb: 9, Hook: HookTailCall, MapID: 3, Slot: 1, ProgID: 7}, // no journey
		{Time: 13, Skb: 1, Hook: HookNetDevQueue, Tuple: fwd, Flags: FlagTuple},
	}
	var out []*Journey
	c := New(Options{Resolver: names, Emit: func(j *Journey) { out = append(out, j) }})
	for i := range evs {
		c.Add(&evs[i])
	}
	c.Flush()
	if c.Stats().Orphans != 1 {
		t.Errorf("orphans %d, want 1", c.Stats().Orphans)
	}
	tc := out[0].Hops[0].TailCalls
	if len(out[0].Hops) != 2 || len(tc) != 1 || tc[0].Map != "calls" || tc[0].Slot != 29 || tc[0].Prog.Name != "ct_egress_long_name" || tc[0].At != 1 {
		t.Errorf("tail calls %+v in %d hops", tc, len(out[0].Hops))
	}
}

func TestFreeOfAnotherPacketAfterDelivery(t *testing.T) {
	var b builder
	b.add(0x1, HookTCIngress, 2, fwd, 0)
	b.add(0x1, HookSockDeliver, 2, fwd, 0)
	// UDP freed it silently; a tap's clone of another packet gets the address
	b.add(0x1, HookConsumeSkb, 2, other, 0)
	js := run(b.evs, Options{})
	if len(js) != 2 || len(js[0].Hops) != 2 || js[0].Fate != FateDelivered || js[1].Tuple.Flow() != other.Flow() {
		t.Fatalf("got %d journeys (first %d hops): want the other packet's free in its own journey", len(js), len(js[0].Hops))
	}
	// the same packet's free still belongs to it
	var c builder
	c.add(0x1, HookSockDeliver, 2, fwd, 0)
	c.add(0x1, HookConsumeSkb, 2, fwd, 0)
	if js := run(c.evs, Options{}); len(js) != 1 || len(js[0].Hops) != 2 {
		t.Errorf("got %d journeys, want the free in the delivered journey", len(js))
	}
}

// TestCloneAfterNATInChain: a tail call's tuple shows a NAT inside the
// chain; a copy of the rewritten packet freed before the packet's own next
// hop (neigh_probe's clone while ARP resolves) joins its journey instead of
// becoming a journey of one consume_skb hop.
func TestCloneAfterNATInChain(t *testing.T) {
	var b builder
	old := tup(17, "10.0.0.1:4000", "10.96.0.10:80", 7)
	dnat := tup(17, "10.0.0.1:4000", "10.244.2.2:8080", 7)
	b.add(0xa, HookTCIngress, 2, old, 0)
	b.add(0xa, HookTailCall, 2, dnat, 0)
	b.evs[len(b.evs)-1].ProgID, b.evs[len(b.evs)-1].MapID = 9, 3
	b.add(0xb, HookConsumeSkb, 3, dnat, 0)
	b.gap(3 * time.Millisecond) // ARP takes longer than the clone window
	b.add(0xa, HookTCEgress, 3, dnat, 0)
	b.add(0xa, HookConsumeSkb, 3, dnat, 0)
	js := run(b.evs, Options{})
	if len(js) != 1 {
		for _, j := range js {
			t.Logf("journey %d: %d hops, %s", j.ID, len(j.Hops), j.Tuple)
		}
		t.Fatalf("%d journeys, want 1", len(js))
	}
	if len(js[0].Clones) != 1 || js[0].Clones[0] != 0xb {
		t.Errorf("clones %v, want the clone 0xb", js[0].Clones)
	}
}

// TestLateFreeAfterDeliverGrace: the application reads a delivered
// datagram after DeliverGrace closed its journey; the free the kernel then
// shows is counted as late, not emitted as a journey of one consume_skb
// hop. Another packet reusing the address, and a free after Idle, still
// make journeys of their own.
func TestLateFreeAfterDeliverGrace(t *testing.T) {
	var out []*Journey
	c := New(Options{Idle: time.Second, DeliverGrace: 10 * time.Millisecond, Emit: func(j *Journey) { out = append(out, j) }})
	ms := uint64(time.Millisecond)
	c.Add(&Event{Time: 1 * ms, Skb: 1, Hook: HookTCIngress, Tuple: fwd})
	c.Add(&Event{Time: 2 * ms, Skb: 1, Hook: HookSockDeliver, Tuple: fwd})
	c.Add(&Event{Time: 3 * ms, Skb: 2, Hook: HookSockDeliver, Tuple: other})
	next := tup(17, "10.0.0.1:4000", "10.0.0.2:53", 8) // the flow's next datagram
	c.Add(&Event{Time: 4 * ms, Skb: 3, Hook: HookSockDeliver, Tuple: next})
	c.Expire(20 * ms)
	if len(out) != 3 {
		t.Fatalf("%d journeys after the grace, want 3", len(out))
	}
	c.Add(&Event{Time: 50 * ms, Skb: 1, Hook: HookConsumeSkb, Tuple: fwd})                       // late free: counted
	c.Add(&Event{Time: 60 * ms, Skb: 2, Hook: HookConsumeSkb, Tuple: fwd})                       // another packet on skb 2
	c.Add(&Event{Time: 70 * ms, Skb: 1, Hook: HookConsumeSkb, Tuple: fwd})                       // forgotten after one free
	c.Add(&Event{Time: 3*ms + uint64(2*time.Second), Skb: 3, Hook: HookConsumeSkb, Tuple: next}) // after Idle
	c.Flush()
	if got := c.Stats().LateFrees; got != 1 {
		t.Errorf("late frees %d, want 1", got)
	}
	if len(out) != 6 {
		t.Fatalf("%d journeys, want the 3 delivered and 3 of the frees that were not late", len(out))
	}
	for _, j := range out[3:] {
		if hooks(j) != "consume_skb" {
			t.Errorf("journey of skb %s: %s, want one consume_skb hop", j.Skb, hooks(j))
		}
	}
}

// TestCopyWhileWaitingForARP: a packet queued for neighbour resolution is
// cloned by neigh_probe and the clone freed, milliseconds after the
// packet's last hop (a slow VM); the packet's skb still lives, so the
// clone is its copy, not a journey of one consume_skb hop.
func TestCopyWhileWaitingForARP(t *testing.T) {
	var b builder
	b.add(0x1, HookSockSend, 2, fwd, 0)
	b.gap(5 * time.Millisecond)
	b.add(0x2, HookConsumeSkb, 2, fwd, 0) // neigh_probe's clone
	b.gap(5 * time.Millisecond)
	b.add(0x1, HookTCEgress, 2, fwd, 0) // ARP answered: the packet goes on
	b.add(0x1, HookSockDeliver, 3, fwd, 0)
	js := run(b.evs, Options{})
	if len(js) != 1 || hooks(js[0]) != "sock_send,consume_skb,tc-egress,sock_deliver" {
		var got []string
		for _, j := range js {
			got = append(got, hooks(j))
		}
		t.Fatalf("journeys %q, want one with the clone's free in it", got)
	}
	// after the packet's skbs are all freed, the window still applies
	var c builder
	c.add(0x1, HookSockSend, 2, fwd, 0)
	c.add(0x1, HookConsumeSkb, 2, fwd, 0)
	c.gap(5 * time.Millisecond)
	c.add(0x2, HookConsumeSkb, 2, fwd, 0)
	if js := run(c.evs, Options{}); len(js) != 2 {
		t.Errorf("%d journeys, want a free 5 ms after the packet's own free in a journey of its own", len(js))
	}
}
