package trace_test

import (
	"context"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/pktlife/pktlife/bpf/demodp"
	"github.com/pktlife/pktlife/demo"
	"github.com/pktlife/pktlife/internal/netnstest"
	"github.com/pktlife/pktlife/trace"
	"github.com/pktlife/pktlife/trace/journey"
)

// demoClient is the fixed address pod A sends the compared datagrams from,
// so that two sends produce the same bytes.
const demoClientPort = 40123

// demoResult is what the demo datapath did with one round of traffic.
type demoResult struct {
	request, reply []byte // masked frames: the DNATed request at pod B, the reverse-NATed reply at pod A
	replyPayload   []byte
	tcpReply       []byte
	counters       map[demodp.DemoStat]uint64 // increments during the round
}

// demoRound sends a UDP round trip through the service, a TCP exchange and
// a datagram to the deny port, and records what came out.
func demoRound(t *testing.T, env *demo.Env) demoResult {
	t.Helper()
	topo := env.Topo
	before := settledCounters(t, env)
	atB := sniff(t, topo.PodB.Path, topo.PodB.IfName)
	atA := sniff(t, topo.PodA.Path, topo.PodA.IfName)
	client := netip.AddrPortFrom(topo.PodA.IP(), demoClientPort)
	payload := []byte("interposition must not change a byte")

	var r demoResult
	r.replyPayload = udpFrom(t, topo.PodA.Path, client, topo.Service, payload, true)
	r.request = atB.next(t, client, topo.Backend()).masked()
	r.reply = atA.next(t, topo.Service, client).masked()
	var err error
	r.tcpReply, err = demo.TCPRoundTrip(context.Background(), topo.PodA.Path, topo.Service, payload)
	if err != nil {
		t.Fatalf("tcp round trip: %v", err)
	}
	denied := netip.AddrPortFrom(topo.PodB.IP(), demo.DenyPort)
	udpFrom(t, topo.PodA.Path, client, denied, payload, false)
	eventually(t, "policy drop counted", func() (bool, error) {
		v, err := env.Datapath.Counter(demodp.DemoStatDEMO_STAT_POLICY_DROP)
		return v > before[demodp.DemoStatDEMO_STAT_POLICY_DROP], err
	})
	r.counters = settledCounters(t, env)
	for k, v := range before {
		r.counters[k] -= v
	}
	return r
}

func demoCounters(t *testing.T, env *demo.Env) map[demodp.DemoStat]uint64 {
	t.Helper()
	out := map[demodp.DemoStat]uint64{}
	for s := demodp.DemoStat(0); s < demodp.DemoStatDEMO_STAT_MAX; s++ {
		v, err := env.Datapath.Counter(s)
		if err != nil {
			t.Fatalf("read counter %d: %v", s, err)
		}
		out[s] = v
	}
	return out
}

// settledCounters reads the datapath's counters once they stop moving:
// the TCP round trip's teardown (FIN, last ACKs) goes on after the call
// returns, and on a slow machine (TCG) it may not have crossed the datapath
// when the counters are first read.
func settledCounters(t *testing.T, env *demo.Env) map[demodp.DemoStat]uint64 {
	t.Helper()
	last := demoCounters(t, env)
	for range 20 {
		time.Sleep(300 * time.Millisecond)
		now := demoCounters(t, env)
		if maps.Equal(now, last) {
			return now
		}
		last = now
	}
	t.Fatalf("datapath counters still moving after 6 s: %v", last)
	return nil
}

func compareDemo(t *testing.T, what string, got, want demoResult) {
	t.Helper()
	mustEqualBytes(t, what+": request frames at pod B", got.request, want.request)
	mustEqualBytes(t, what+": reply frames at pod A", got.reply, want.reply)
	mustEqualBytes(t, what+": UDP reply payloads", got.replyPayload, want.replyPayload)
	mustEqualBytes(t, what+": TCP replies", got.tcpReply, want.tcpReply)
	for s, v := range want.counters {
		if got.counters[s] != v {
			t.Errorf("%s: datapath counter %d went up by %d, want %d as without pktlife", what, s, got.counters[s], v)
		}
	}
}

// TestTailCallsDemo checks the exact per-packet chains through the demo
// datapath, and that interposition changes neither what the datapath does
// nor, after exit, its prog_array.
func TestTailCallsDemo(t *testing.T) {
	netnstest.RequireRoot(t)
	for _, legacy := range []bool{false, true} {
		t.Run(fmt.Sprintf("legacy=%v", legacy), func(t *testing.T) {
			env, err := demo.Start(context.Background(), demo.EnvOptions{
				Topology: demo.Options{Prefix: "pl-tcd"},
				Datapath: demo.DatapathOptions{Legacy: legacy},
			})
			if err != nil {
				netnstest.SkipIfNoTCX(t, err)
				t.Fatalf("start demo: %v", err)
			}
			t.Cleanup(func() {
				if err := env.Close(); err != nil {
					t.Errorf("close demo: %v", err)
				}
			})
			calls := env.Datapath.Objects.DemoCalls
			before := slots(t, calls)
			base := demoRound(t, env)
			if base.counters[demodp.DemoStatDEMO_STAT_POLICY_DROP] != 1 || base.counters[demodp.DemoStatDEMO_STAT_DNAT] == 0 {
				t.Fatalf("demo datapath misbehaves without pktlife: counters %v", base.counters)
			}

			dir := stateDir(t)
			var nss []string
			for _, n := range env.Topo.Namespaces() {
				nss = append(nss, n.Path)
			}
			tr := newInterposer(t, dir, trace.Options{
				Filter:   trace.Filter{Host: netip.PrefixFrom(env.Topo.PodA.IP(), 32)},
				Netns:    nss,
				LegacyTC: legacy,
			})
			checkInterposed(t, tr, map[uint32]string{
				uint32(demodp.DemoSlotDEMO_SLOT_NAT):     demodp.DemoProgDemoNat,
				uint32(demodp.DemoSlotDEMO_SLOT_POLICY):  demodp.DemoProgDemoPolicy,
				uint32(demodp.DemoSlotDEMO_SLOT_REV_NAT): demodp.DemoProgDemoRevNat,
			})
			if equalSlots(slots(t, calls), before) {
				t.Fatal("demo_calls unchanged while interposing")
			}
			c := collect(t, tr)
			traced := demoRound(t, env)
			compareDemo(t, "with interposition", traced, base)
			checkDemoChains(t, c, env.Topo)
			if n := tr.ShimMisses(); n != 0 {
				t.Errorf("%d shim misses", n)
			}

			c.stop(t)
			if err := tr.Close(); err != nil {
				t.Fatalf("close tracer: %v", err)
			}
			if after := slots(t, calls); !equalSlots(after, before) {
				t.Errorf("demo_calls after exit %v, before %v", after, before)
			}
			checkNoLeftovers(t, dir)
			compareDemo(t, "after exit", demoRound(t, env), base)
		})
	}
}

// checkInterposed checks the interposed slots by index and original name.
func checkInterposed(t *testing.T, tr *trace.Tracer, want map[uint32]string) {
	t.Helper()
	got := map[uint32]string{}
	for _, s := range tr.Interposed() {
		got[s.Slot] = s.Prog.Name
		if s.ShimID == 0 || s.ShimID == s.Prog.ID {
			t.Errorf("slot %d: shim %d for program %d", s.Slot, s.ShimID, s.Prog.ID)
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("interposed %v, want %v", got, want)
	}
}

func checkDemoChains(t *testing.T, c *collector, topo *demo.Topology) {
	t.Helper()
	calls := demodp.DemoMapDemoCalls
	forward := []jump{
		{Map: calls, Slot: uint32(demodp.DemoSlotDEMO_SLOT_NAT), Prog: demodp.DemoProgDemoNat},
		{Map: calls, Slot: uint32(demodp.DemoSlotDEMO_SLOT_POLICY), Prog: demodp.DemoProgDemoPolicy},
	}
	back := []jump{{Map: calls, Slot: uint32(demodp.DemoSlotDEMO_SLOT_REV_NAT), Prog: demodp.DemoProgDemoRevNat}}
	client := netip.AddrPortFrom(topo.PodA.IP(), demoClientPort)
	for _, tc := range []struct {
		desc string
		pred func(*journey.Journey) bool
		want []jump
		fate journey.Fate
	}{
		{"UDP request to the service", func(j *journey.Journey) bool {
			return j.Tuple.Proto == 17 && j.Tuple.Src == client && j.Tuple.Dst == topo.Service
		}, forward, journey.FateDelivered},
		{"UDP reply from the backend", func(j *journey.Journey) bool {
			return j.Tuple.Proto == 17 && j.Tuple.Src == topo.Backend() && j.Tuple.Dst == client
		}, back, journey.FateDelivered},
		{"UDP to the deny port", func(j *journey.Journey) bool {
			return j.Tuple.Proto == 17 && j.Tuple.Dst.Port() == demo.DenyPort
		}, forward, journey.FateDropped},
		{"TCP SYN to the service", func(j *journey.Journey) bool {
			return j.Tuple.Proto == 6 && j.Tuple.Dst == topo.Service && j.Tuple.TCPFlags == 0x02
		}, forward, journey.FateDelivered},
		{"TCP SYN-ACK from the backend", func(j *journey.Journey) bool {
			return j.Tuple.Proto == 6 && j.Tuple.Src == topo.Backend() && j.Tuple.TCPFlags == 0x12
		}, back, journey.FateDelivered},
	} {
		j := c.wait(t, tc.desc, func(j *journey.Journey) bool {
			return tc.pred(j) && slices.ContainsFunc(j.Hops, func(h journey.Hop) bool { return h.Hook.IsTC() && len(h.Progs) > 0 })
		})
		if got := chainOf(j); !slices.Equal(got, tc.want) {
			t.Errorf("%s: chain %v, want %v", tc.desc, got, tc.want)
		}
		if j.Fate != tc.fate {
			t.Errorf("%s: fate %s, want %s", tc.desc, j.Fate, tc.fate)
		}
	}
}
