package render

import (
	"net/netip"
	"time"

	"github.com/pktlife/pktlife/trace/journey"
)

// Fixtures: journeys built by hand, shaped like what the correlator makes,
// one per situation the renderers must show well.

const (
	nsHost = 4026531840
	nsPodA = 4026532281
	nsPodB = 4026532345
	nsPodC = 4026532409
	skbA   = 0xffff888004d2a900
	skbB   = 0xffff888004d2b600
	skbC   = 0xffff88800a1e0200
	start  = 1_000_000_000_000
)

var (
	wall = time.Date(2025, 6, 1, 12, 0, 0, 123456000, time.UTC)

	host   = journey.Device{Netns: nsHost, NetnsName: "host"}
	podA   = journey.Device{Name: "eth0", Ifindex: 2, Netns: nsPodA, NetnsName: "pod-a"}
	podB   = journey.Device{Name: "eth0", Ifindex: 2, Netns: nsPodB, NetnsName: "pod-b"}
	podC   = journey.Device{Name: "eth0", Ifindex: 2, Netns: nsPodC}
	vethA  = dev(host, "veth-a", 4)
	lxcA   = dev(host, "lxc-a", 7)
	lxcB   = dev(host, "lxc-b", 9)
	hostE0 = dev(host, "eth0", 2)
)

func dev(ns journey.Device, name string, ifindex uint32) journey.Device {
	ns.Name, ns.Ifindex = name, ifindex
	return ns
}

func ap(s string) netip.AddrPort {
	if p, err := netip.ParseAddrPort(s); err == nil {
		return p
	}
	return netip.AddrPortFrom(netip.MustParseAddr(s), 0)
}

func tuple(proto uint8, src, dst string) journey.Tuple {
	return journey.Tuple{Proto: proto, Src: ap(src), Dst: ap(dst)}
}

func us(f float64) time.Duration { return time.Duration(f * 1e3) }

func ret(v int64) *int64 { return &v }

// kfunc is h at kernel function name.
func kfunc(h journey.Hop, name string) journey.Hop {
	h.SetKfunc(name)
	return h
}

// finish fills in what the correlator derives: indexes, timestamps, deltas,
// duration, and hop defaults (skb, tuple, cpu).
func finish(j *journey.Journey) *journey.Journey {
	j.Schema = journey.SchemaVersion
	if j.Skb == 0 {
		j.Skb = skbA
	}
	j.Start = start
	cur := j.Tuple
	for i := range j.Hops {
		h := &j.Hops[i]
		h.Index = i + 1
		h.Time = start + uint64(h.At)
		if i > 0 {
			h.Delta = h.At - j.Hops[i-1].At
		}
		if h.Skb == 0 {
			h.Skb = j.Skb
		}
		if h.NATFrom != nil {
			cur = h.Tuple
		}
		if !h.Tuple.Valid() {
			h.Tuple = cur
		}
		if h.Len == 0 {
			h.Len = 60
		}
		h.CPU = uint16(i % 3)
	}
	if h := j.Last(); h != nil {
		j.Duration = h.At
	}
	return j
}

func udpDelivered() *journey.Journey {
	return finish(&journey.Journey{
		ID: 1, Node: "node-a", StartWall: wall,
		Tuple: tuple(17, "10.244.1.2:40000", "10.244.1.3:53"),
		Hops: []journey.Hop{
			{At: 0, Hook: journey.HookSockSend, Device: journey.Device{Netns: nsPodA, NetnsName: "pod-a"}, Len: 41},
			{At: us(4.7), Hook: journey.HookNetDevQueue, Device: podA, Len: 74},
			{At: us(5.9), Hook: journey.HookNetDevStartXmit, Device: podA, Len: 74},
			{At: us(7.6), Hook: journey.HookTCIngress, Device: lxcA, Verdict: "TC_ACT_OK"},
			{At: us(8.1), Hook: journey.HookNetifReceiveSkb, Device: lxcA},
			{At: us(14.5), Hook: journey.HookNetDevQueue, Device: lxcB, Len: 74},
			{At: us(16.8), Hook: journey.HookNetifReceiveSkb, Device: podB},
			{At: us(25.2), Hook: journey.HookSockDeliver, Device: podB},
		},
		Fate: journey.FateDelivered, End: journey.EndDelivered,
	})
}

func dnatTailCallDrop() *journey.Journey {
	before := tuple(17, "10.244.1.2:40000", "10.96.0.10:80")
	after := tuple(17, "10.244.1.2:40000", "10.244.2.2:8080")
	return finish(&journey.Journey{
		ID: 3, Node: "node-a", StartWall: wall.Add(2 * time.Millisecond),
		Tuple: before,
		Hops: []journey.Hop{
			{At: 0, Hook: journey.HookNetDevQueue, Device: podA},
			{At: us(1.4), Hook: journey.HookNetDevStartXmit, Device: podA},
			{
				At: us(3.1), Hook: journey.HookTCIngress, Device: vethA,
				Progs: []journey.Prog{{ID: 71, Name: "demo_from_pod"}},
				TailCalls: []journey.TailCall{
					{At: us(3.5), Map: "demo_calls", MapID: 12, Slot: 0, Prog: journey.Prog{ID: 80, Name: "demo_nat"}},
					{At: us(3.7), Map: "demo_calls", MapID: 12, Slot: 1, Prog: journey.Prog{ID: 81, Name: "demo_policy"}},
				},
				Verdict: "TC_ACT_SHOT", VerdictInferred: true,
			},
			{
				At: us(4.6), Hook: journey.HookKfreeSkb, Device: vethA,
				Tuple: after, NATFrom: &before, DropReason: "TC_INGRESS",
			},
		},
		NAT:  []journey.NAT{{Hop: 4, Old: before, New: after, Kind: "dnat"}},
		Fate: journey.FateDropped, DropReason: "TC_INGRESS", End: journey.EndFree,
	})
}

func missedTailCall() *journey.Journey {
	before := tuple(6, "10.244.1.2:51000", "93.184.216.34:443")
	after := tuple(6, "192.168.1.10:51000", "93.184.216.34:443")
	return finish(&journey.Journey{
		ID: 7, Node: "node-a", StartWall: wall.Add(5 * time.Millisecond),
		Tuple: before,
		Hops: []journey.Hop{
			{At: 0, Hook: journey.HookNetDevQueue, Device: podA},
			{
				At: us(2.2), Hook: journey.HookTCIngress, Device: vethA,
				Progs: []journey.Prog{{ID: 71, Name: "demo_from_pod"}},
				TailCalls: []journey.TailCall{
					{At: us(2.6), Map: "demo_calls", MapID: 12, Slot: 0, Prog: journey.Prog{ID: 80, Name: "demo_nat"}},
					{At: us(2.8), Map: "demo_calls", MapID: 12, Slot: 3, Missed: true},
				},
				Verdict: "TC_ACT_OK",
			},
			{At: us(3.9), Hook: journey.HookNetifReceiveSkb, Device: vethA},
			{
				At: us(15.3), Hook: journey.HookTCEgress, Device: hostE0,
				Progs: []journey.Prog{{ID: 90, Name: "demo_to_netdev"}, {ID: 95, Name: "fw_egress_filter"}},
				TailCalls: []journey.TailCall{
					{MapID: 14, Slot: 2, Prog: journey.Prog{ID: 91, Name: "demo_snat"}, Inferred: true},
				},
				Verdict: "TC_ACT_OK", VerdictInferred: true,
			},
			{At: us(16.0), Hook: journey.HookNetDevStartXmit, Device: hostE0, Tuple: after, NATFrom: &before},
			{At: us(16.8), Hook: journey.HookNetDevXmit, Device: hostE0, Ret: ret(0)},
		},
		NAT:  []journey.NAT{{Hop: 5, Old: before, New: after, Kind: "snat"}},
		Fate: journey.FateTransmitted, End: journey.EndIdle,
	})
}

func cloneSkb() *journey.Journey {
	return finish(&journey.Journey{
		ID: 12, Node: "node-a", StartWall: wall.Add(9 * time.Millisecond),
		Tuple:  tuple(1, "10.10.0.1", "10.10.0.255"),
		Clones: []journey.Ptr{skbB},
		Hops: []journey.Hop{
			{At: 0, Hook: journey.HookNetDevQueue, Device: podA, Len: 98},
			{At: us(2.0), Hook: journey.HookNetifReceiveSkb, Device: dev(host, "br0", 3), Len: 84},
			{At: us(4.4), Hook: journey.HookNetDevQueue, Device: lxcB, Skb: skbB, Len: 98},
			{At: us(5.1), Hook: journey.HookNetDevQueue, Device: dev(host, "lxc-c", 11), Len: 98},
			{At: us(7.9), Hook: journey.HookNetifReceiveSkb, Device: podB, Skb: skbB, Len: 84},
			{At: us(8.3), Hook: journey.HookNetifReceiveSkb, Device: podC, Len: 84},
			{At: us(14.0), Hook: journey.HookConsumeSkb, Device: podB, Skb: skbB, Len: 84},
			{At: us(15.2), Hook: journey.HookConsumeSkb, Device: podC, Len: 84},
		},
		Fate: journey.FateConsumed, End: journey.EndFree,
	})
}

func unfinished() []*journey.Journey {
	syn := tuple(6, "10.244.1.2:52000", "10.244.3.7:5432")
	syn.TCPFlags = 0x02
	idle := finish(&journey.Journey{
		ID: 20, Node: "node-a", StartWall: wall.Add(time.Second),
		Tuple: syn,
		Hops: []journey.Hop{
			{At: 0, Hook: journey.HookNetDevQueue, Device: podA, Len: 74},
			{At: us(2.5), Hook: journey.HookTCIngress, Device: vethA, Verdict: "TC_ACT_REDIRECT", VerdictInferred: true,
				Progs: []journey.Prog{{ID: 71, Name: "demo_from_pod"}}},
		},
		Fate: journey.FateUnknown, End: journey.EndIdle,
	})
	evicted := finish(&journey.Journey{
		ID: 21, Skb: skbC, StartWall: wall.Add(time.Second + time.Millisecond),
		Tuple: tuple(17, "10.244.1.5:33000", "10.244.1.9:9999"),
		Hops: []journey.Hop{
			{At: 0, Hook: journey.HookNetifRx, Device: dev(host, "vxlan0", 5)},
		},
		Fate: journey.FateUnknown, End: journey.EndEvicted,
	})
	return []*journey.Journey{idle, evicted}
}

func ipv6SNAT() *journey.Journey {
	before := tuple(6, "[2001:db8:1::2]:44321", "[2001:db8:ffff::10]:443")
	after := tuple(6, "[2001:db8:aaaa::1]:60001", "[2001:db8:ffff::10]:443")
	pod := journey.Device{Name: "eth0", Ifindex: 2, Netns: nsPodB, NetnsName: "cni-7f3b2a14-5c9e-4d21-8f6a-0b1c2d3e4f50"}
	lxc := dev(host, "lxc9f3b2a14c5e0", 23)
	return finish(&journey.Journey{
		ID: 31, Node: "node-b", StartWall: wall.Add(3 * time.Second),
		Tuple: before,
		Hops: []journey.Hop{
			{At: 0, Hook: journey.HookNetDevQueue, Device: pod, Len: 94},
			{At: us(1.8), Hook: journey.HookTCIngress, Device: lxc, Verdict: "TC_ACT_OK", Len: 94},
			{At: us(2.6), Hook: journey.HookNetifReceiveSkb, Device: lxc, Len: 80},
			{At: us(31.7), Hook: journey.HookNetDevQueue, Device: hostE0, Tuple: after, NATFrom: &before, Len: 94},
			{At: us(32.4), Hook: journey.HookNetDevStartXmit, Device: hostE0, Len: 94},
			{At: us(33.0), Hook: journey.HookNetDevXmit, Device: hostE0, Ret: ret(0), Len: 94},
		},
		NAT:  []journey.NAT{{Hop: 4, Old: before, New: after, Kind: "snat"}},
		Fate: journey.FateTransmitted, End: journey.EndFlush,
	})
}

func kfuncHops() *journey.Journey {
	return finish(&journey.Journey{
		ID: 44, Node: "node-a", StartWall: wall.Add(4 * time.Second),
		Tuple: tuple(1, "192.168.1.20", "192.168.1.10"),
		Hops: []journey.Hop{
			{At: 0, Hook: journey.HookNetifReceiveSkb, Device: hostE0, Len: 84},
			kfunc(journey.Hop{At: us(0.3), Hook: journey.HookKfunc, Device: hostE0, Len: 84}, "__netif_receive_skb_core"),
			kfunc(journey.Hop{At: us(0.9), Hook: journey.HookKfunc, Device: hostE0, Len: 84}, "ip_rcv"),
			kfunc(journey.Hop{At: us(1.2), Hook: journey.HookKfunc, Device: hostE0, Len: 84}, "nf_hook_slow"),
			kfunc(journey.Hop{At: us(2.7), Hook: journey.HookKfuncRet, Device: hostE0, Ret: ret(1), Len: 84}, "nf_hook_slow"),
			kfunc(journey.Hop{At: us(3.0), Hook: journey.HookKfunc, Device: hostE0, Len: 84}, "ip_local_deliver"),
			kfunc(journey.Hop{At: us(3.6), Hook: journey.HookKfunc, Device: hostE0, Len: 64}, "icmp_rcv"),
			kfunc(journey.Hop{At: us(6.2), Hook: journey.HookKfuncRet, Device: hostE0, Ret: ret(0), Len: 64}, "icmp_rcv"),
			{At: us(6.5), Hook: journey.HookConsumeSkb, Device: hostE0, Len: 64},
		},
		Fate: journey.FateConsumed, End: journey.EndFree,
	})
}

// fixture is one golden case: a name and the journeys it renders.
type fixture struct {
	name     string
	journeys []*journey.Journey
}

func fixtures() []fixture {
	one := func(j *journey.Journey) []*journey.Journey { return []*journey.Journey{j} }
	return []fixture{
		{"udp_delivered", one(udpDelivered())},
		{"dnat_tailcall_drop", one(dnatTailCallDrop())},
		{"missed_tailcall", one(missedTailCall())},
		{"clone_skb", one(cloneSkb())},
		{"unfinished", unfinished()},
		{"ipv6_snat", one(ipv6SNAT())},
		{"kfunc", one(kfuncHops())},
	}
}

func allJourneys() []*journey.Journey {
	var all []*journey.Journey
	for _, f := range fixtures() {
		all = append(all, f.journeys...)
	}
	return all
}
