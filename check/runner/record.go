package runner

import (
	"context"
	"errors"
	"fmt"
	"net/netip"

	"github.com/pktlife/pktlife/check"
	"github.com/pktlife/pktlife/demo"
)

// ErrNoJourney is returned by Record when a packet it must write down was
// never seen.
var ErrNoJourney = errors.New("no journey seen")

// RecordOptions say what Record writes.
type RecordOptions struct {
	check.RecordOptions
	// Packets are recorded for probes that list no expectations; nil means
	// the first packet and, when one is seen, the reply.
	Packets []check.Packet
}

// Record runs the spec's probes and returns a copy of the spec whose
// expectations say what was observed. A probe that lists expectations gets
// those packets recorded (and fails when one is not seen); other probes
// get RecordOptions.Packets.
func Record(ctx context.Context, s *check.Spec, o Options, ro RecordOptions) (*check.Spec, error) {
	ss, err := open(ctx, s, o)
	if err != nil {
		return nil, err
	}
	defer ss.Close()
	ro.Chains = ro.Chains || ss.chains
	out := *s
	out.Setup.TailCalls = s.Setup.TailCalls
	if ss.mode != "" && ss.mode != "auto" {
		out.Setup.TailCalls = ss.mode
	}
	out.Probes = nil
	for i := range s.Probes {
		p := s.Probes[i]
		required := packetsOf(&p)
		want := required
		if len(want) == 0 {
			want = ro.Packets
		}
		optional := len(want) == 0
		if optional {
			want = []check.Packet{check.PacketFirst, check.PacketReply}
		}
		r, err := ss.probe(ctx, i, want)
		if err != nil {
			return nil, err
		}
		p.Expect = nil
		for _, pk := range want {
			j := r.journeys[pk]
			if j == nil {
				if optional && pk == check.PacketReply {
					continue
				}
				return nil, fmt.Errorf("record probe %s (%s): %w for the %s packet", p.Name, r.tuple, ErrNoJourney, pk)
			}
			p.Expect = append(p.Expect, check.ExpectFromJourney(pk, j, ro.RecordOptions))
		}
		out.Probes = append(out.Probes, p)
	}
	if err := ss.Close(); err != nil {
		return nil, fmt.Errorf("finish recording: %w", err)
	}
	return &out, nil
}

// DemoProbes is the spec `pktlife record --demo` starts from: the demo's
// flows — UDP and TCP through the service VIP to pod B's echo servers, UDP
// to the port the policy denies, and a ping that the node routes.
func DemoProbes() *check.Spec {
	backend := podB(demo.BackendPort)
	return &check.Spec{
		File:  "demo",
		Setup: check.Setup{Demo: true},
		Probes: []check.Probe{
			{Name: "udp-service", Proto: "udp", From: check.Endpoint{Netns: "poda"}, To: serviceAddrPort(),
				Payload: "hello over udp", Listen: &check.Listen{Netns: "podb", Addr: backend}},
			{Name: "tcp-service", Proto: "tcp", From: check.Endpoint{Netns: "poda"}, To: serviceAddrPort(),
				Payload: "hello over tcp", Listen: &check.Listen{Netns: "podb", Addr: backend}},
			{Name: "udp-denied", Proto: "udp", From: check.Endpoint{Netns: "poda"}, To: podB(demo.DenyPort),
				Payload: "denied"},
			{Name: "ping", Proto: "icmp", From: check.Endpoint{Netns: "poda"}, To: podB(0)},
		},
	}
}

// demoPodB is pod B's address in the demo's fixed addressing plan
// (demo/topology.go); TestDemoAddressing keeps the two in step.
var demoPodB = netip.MustParseAddr("10.244.2.2")

func serviceAddrPort() netip.AddrPort {
	return netip.AddrPortFrom(demo.ServiceAddr, demo.ServicePort)
}

func podB(port uint16) netip.AddrPort { return netip.AddrPortFrom(demoPodB, port) }
