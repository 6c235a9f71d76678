package check

import (
	"net/netip"
	"time"

	"github.com/pktlife/pktlife/trace/journey"
)

// Fixture journeys shaped like the demo datapath's, built in code so that
// each broken variant differs from the good one in exactly one place.

const (
	nsA    = "pktlife-demo-0c0f8fed-poda"
	nsNode = "pktlife-demo-0c0f8fed-node"
	nsB    = "pktlife-demo-0c0f8fed-podb"
)

var (
	client  = netip.MustParseAddrPort("10.244.1.2:41000")
	service = netip.MustParseAddrPort("10.96.0.10:80")
	backend = netip.MustParseAddrPort("10.244.2.2:8080")
)

type hb struct{ j *journey.Journey }

func newJourney(t journey.Tuple) *hb {
	return &hb{&journey.Journey{Schema: 1, ID: 1, Tuple: t, Fate: journey.FateUnknown}}
}

// hop appends a hop dt after the previous one.
func (b *hb) hop(dt time.Duration, hook journey.Hook, dev, ns string) *hb {
	j := b.j
	h := journey.Hop{Index: len(j.Hops) + 1, Hook: hook, Device: journey.Device{Name: dev, NetnsName: ns}, Tuple: j.Tuple}
	if l := j.Last(); l != nil {
		h.At = l.At + dt
		h.Delta = dt
		h.Tuple = l.Tuple
	}
	h.Time = uint64(h.At)
	j.Hops = append(j.Hops, h)
	j.Duration = h.At
	return b
}

func (b *hb) last() *journey.Hop { return b.j.Last() }

func (b *hb) progs(names ...string) *hb {
	for i, n := range names {
		b.last().Progs = append(b.last().Progs, journey.Prog{ID: uint32(100 + i), Name: n})
	}
	return b
}

func (b *hb) call(slot uint32, prog string) *hb {
	tc := journey.TailCall{Map: "demo_calls", MapID: 7, Slot: slot, Prog: journey.Prog{ID: 200 + slot, Name: prog}}
	if prog == "" {
		tc.Missed, tc.Prog = true, journey.Prog{}
	}
	b.last().TailCalls = append(b.last().TailCalls, tc)
	return b
}

// nat rewrites the tuple from the last hop on.
func (b *hb) nat(to journey.Tuple) *hb {
	h := b.last()
	old := h.Tuple
	h.NATFrom = &old
	h.Tuple = to
	kind := "dnat"
	if old.Dst == to.Dst {
		kind = "snat"
	}
	b.j.NAT = append(b.j.NAT, journey.NAT{Hop: h.Index, Old: old.Flow(), New: to.Flow(), Kind: kind})
	return b
}

func (b *hb) drop(reason string) *hb {
	b.last().DropReason = reason
	b.j.Fate, b.j.DropReason, b.j.End = journey.FateDropped, reason, journey.EndFree
	return b
}

func udp(src, dst netip.AddrPort) journey.Tuple { return journey.Tuple{Proto: 17, Src: src, Dst: dst} }

// goodUDP is the demo's UDP packet to the service, with its chain traced.
func goodUDP() *journey.Journey {
	return udpJourney(func(b *hb) { b.call(0, "demo_nat").call(1, "demo_policy") }, true)
}

// udpJourney builds the UDP journey up to tc-ingress on lxc-poda, lets
// chain add tail calls there, and when forwarded continues through the
// redirect to pod B with DNAT.
func udpJourney(chain func(*hb), forwarded bool) *journey.Journey {
	us := time.Microsecond
	b := newJourney(udp(client, service)).
		hop(0, journey.HookSockSend, "eth0", nsA).
		hop(20*us, journey.HookTCEgress, "eth0", nsA).
		hop(1*us, journey.HookNetDevQueue, "eth0", nsA).
		hop(1*us, journey.HookNetDevStartXmit, "eth0", nsA).
		hop(1*us, journey.HookNetifRx, "lxc-poda", nsNode).
		hop(1*us, journey.HookNetifReceiveSkb, "lxc-poda", nsNode).
		hop(1*us, journey.HookTCIngress, "lxc-poda", nsNode).progs("demo_from_pod")
	chain(b)
	if !forwarded {
		return b.j
	}
	b.hop(3*us, journey.HookTCEgress, "lxc-podb", nsNode).nat(udp(client, backend)).
		hop(1*us, journey.HookNetDevQueue, "lxc-podb", nsNode).
		hop(1*us, journey.HookNetifRx, "eth0", nsB).
		hop(1*us, journey.HookTCIngress, "eth0", nsB).
		hop(10*us, journey.HookSockDeliver, "eth0", nsB)
	b.j.Fate, b.j.End = journey.FateDelivered, journey.EndDelivered
	return b.j
}
