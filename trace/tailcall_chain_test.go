package trace_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/pktlife/pktlife/bpf/demodp"
	"github.com/pktlife/pktlife/demo"
	"github.com/pktlife/pktlife/internal/netnstest"
	"github.com/pktlife/pktlife/trace"
	"github.com/pktlife/pktlife/trace/journey"
)

// chainEnv is the chain datapath at ingress of pod A's node-side veth, and
// a UDP echo server in pod B on every port of demo.ChainPaths.
type chainEnv struct {
	topo  *demo.Topology
	chain *demo.Chain
	srv   map[uint16]*demo.UDPServer
}

func newChainEnv(t *testing.T, legacy bool) *chainEnv {
	t.Helper()
	return newChainEnvOn(t, legacy, false)
}

// newChainEnvOn is newChainEnv; with fallback, a kernel without tcx (the
// library says so: ErrNotSupported) gets the legacy clsact datapath
// instead of a skipped test.
func newChainEnvOn(t *testing.T, legacy, fallback bool) *chainEnv {
	t.Helper()
	netnstest.RequireRoot(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	topo, err := demo.NewTopology(ctx, demo.Options{Prefix: "pl-tcc"})
	if err != nil {
		t.Fatalf("build topology: %v", err)
	}
	t.Cleanup(func() {
		if err := topo.Close(); err != nil {
			t.Errorf("close topology: %v", err)
		}
	})
	e := &chainEnv{topo: topo, srv: map[uint16]*demo.UDPServer{}}
	e.chain, err = demo.LoadChain(demo.ChainOptions{NetnsPath: topo.Node.Path, Ifindex: topo.PodA.NodeIfindex, Legacy: legacy})
	if fallback && !legacy && errors.Is(err, ebpf.ErrNotSupported) {
		e.chain, err = demo.LoadChain(demo.ChainOptions{NetnsPath: topo.Node.Path, Ifindex: topo.PodA.NodeIfindex, Legacy: true})
	}
	if err != nil {
		netnstest.SkipIfNoTCX(t, err)
		t.Fatalf("load chain: %v", err)
	}
	t.Cleanup(func() {
		if err := e.chain.Close(); err != nil {
			t.Errorf("close chain: %v", err)
		}
	})
	for _, p := range demo.ChainPaths() {
		s, err := demo.StartUDPEcho(ctx, topo.PodB.Path, netip.AddrPortFrom(topo.PodB.IP(), p.Port))
		if err != nil {
			t.Fatalf("start server on %d: %v", p.Port, err)
		}
		t.Cleanup(func() { s.Close() })
		e.srv[p.Port] = s
	}
	return e
}

func (e *chainEnv) netns() []string {
	var out []string
	for _, n := range e.topo.Namespaces() {
		out = append(out, n.Path)
	}
	return out
}

// client is the fixed address pod A sends to port from.
func (e *chainEnv) client(port uint16) netip.AddrPort {
	return netip.AddrPortFrom(e.topo.PodA.IP(), 30000+port)
}

func (e *chainEnv) dst(port uint16) netip.AddrPort {
	return netip.AddrPortFrom(e.topo.PodB.IP(), port)
}

// pathResult is what the chain did with one datagram.
type pathResult struct {
	frame   []byte // masked, as pod B received it
	payload []byte // as pod B's server read it
	echo    []byte // as pod A read the echo
	mark    uint32 // skb->mark it left the chain with
}

// chainRound sends one datagram along every path and records the results
// and the counters' increments.
func (e *chainEnv) round(t *testing.T) (map[uint16]pathResult, map[demodp.ChainCounter]uint64) {
	t.Helper()
	before := e.counters(t)
	atB := sniff(t, e.topo.PodB.Path, e.topo.PodB.IfName)
	out := map[uint16]pathResult{}
	for _, p := range demo.ChainPaths() {
		payload := []byte(fmt.Sprintf("chain path %d", p.Port))
		var r pathResult
		prev, _, err := e.chain.Result(p.Port)
		if err != nil {
			t.Fatal(err)
		}
		r.echo = udpFrom(t, e.topo.PodA.Path, e.client(p.Port), e.dst(p.Port), payload, true)
		r.frame = atB.next(t, e.client(p.Port), e.dst(p.Port)).masked()
		d := <-e.srv[p.Port].Received()
		if d.From != e.client(p.Port) {
			t.Errorf("port %d: server got a datagram from %s, want %s", p.Port, d.From, e.client(p.Port))
		}
		r.payload = d.Payload
		res, ok, err := e.chain.Result(p.Port)
		if err != nil || !ok || res.Packets != prev.Packets+1 {
			t.Fatalf("port %d: chain result %+v (found %v, err %v), want packet %d", p.Port, res, ok, err, prev.Packets+1)
		}
		r.mark = res.Mark
		out[p.Port] = r
	}
	after := e.counters(t)
	for k, v := range before {
		after[k] -= v
	}
	return out, after
}

func (e *chainEnv) counters(t *testing.T) map[demodp.ChainCounter]uint64 {
	t.Helper()
	out := map[demodp.ChainCounter]uint64{}
	for s := demodp.ChainCounter(0); s < demodp.ChainCounterCHAIN_STAT_MAX; s++ {
		v, err := e.chain.Counter(s)
		if err != nil {
			t.Fatal(err)
		}
		out[s] = v
	}
	return out
}

func compareChain(t *testing.T, what string, got, want map[uint16]pathResult, gotC, wantC map[demodp.ChainCounter]uint64) {
	t.Helper()
	for _, p := range demo.ChainPaths() {
		g, w := got[p.Port], want[p.Port]
		where := fmt.Sprintf("%s: port %d", what, p.Port)
		mustEqualBytes(t, where+": frames at pod B", g.frame, w.frame)
		mustEqualBytes(t, where+": payloads", g.payload, w.payload)
		mustEqualBytes(t, where+": echoes", g.echo, w.echo)
		if g.mark != w.mark || g.mark != p.Mark {
			t.Errorf("%s: mark %#x, without pktlife %#x, designed %#x", where, g.mark, w.mark, p.Mark)
		}
	}
	for k, v := range wantC {
		if gotC[k] != v {
			t.Errorf("%s: chain counter %d went up by %d, want %d", what, k, gotC[k], v)
		}
	}
}

// wantChain is the chain a path's packet must show: observed jumps exact,
// jumps into empty slots inferred from the graph.
func wantChain(p demo.ChainPath) []jump {
	var out []jump
	for _, s := range p.Steps {
		if s.Program == "" {
			out = append(out, jump{Map: s.Map, Slot: s.Slot, Missed: true, Inferred: true})
			continue
		}
		out = append(out, jump{Map: s.Map, Slot: s.Slot, Prog: s.Program})
	}
	return out
}

// TestTailCallsChain: three levels, two prog_arrays, empty slots, a
// program in two maps. Every path shows its exact chain, and the datapath
// does the same with and without pktlife.
func TestTailCallsChain(t *testing.T) {
	for _, legacy := range []bool{false, true} {
		t.Run(fmt.Sprintf("legacy=%v", legacy), func(t *testing.T) {
			e := newChainEnv(t, legacy)
			o := &e.chain.Objects
			before := slots(t, o.ChainJmpA, o.ChainJmpB)
			base, baseC := e.round(t)

			dir := stateDir(t)
			tr := newInterposer(t, dir, trace.Options{
				Filter:   trace.Filter{Proto: 17, Host: netip.PrefixFrom(e.topo.PodA.IP(), 32)},
				Netns:    e.netns(),
				LegacyTC: legacy,
			})
			if got := len(tr.Interposed()); got != 4 {
				t.Errorf("%d slots interposed, want the 4 filled ones: %+v", got, tr.Interposed())
			}
			c := collect(t, tr)
			traced, tracedC := e.round(t)
			compareChain(t, "with interposition", traced, base, tracedC, baseC)
			for _, p := range demo.ChainPaths() {
				j := c.wait(t, fmt.Sprintf("to port %d", p.Port), func(j *journey.Journey) bool {
					return j.Tuple.Src == e.client(p.Port) && j.Tuple.Dst == e.dst(p.Port) &&
						hasHop(j, journey.HookTCIngress, e.topo.PodA.NodeIfName)
				})
				if got, want := chainOf(j), wantChain(p); !slices.Equal(got, want) {
					t.Errorf("port %d: chain %v, want %v\n%s", p.Port, got, want, describe(j))
				}
			}

			c.stop(t)
			if err := tr.Close(); err != nil {
				t.Fatalf("close tracer: %v", err)
			}
			if after := slots(t, o.ChainJmpA, o.ChainJmpB); !equalSlots(after, before) {
				t.Errorf("prog_arrays after exit %v, before %v", after, before)
			}
			checkNoLeftovers(t, dir)
			after, afterC := e.round(t)
			compareChain(t, "after exit", after, base, afterC, baseC)
		})
	}
}

// TestTailCallsReplacedSlot: a slot the datapath's owner rewrites while
// pktlife traces is left as the owner set it, and reported.
func TestTailCallsReplacedSlot(t *testing.T) {
	e := newChainEnv(t, false)
	o := &e.chain.Objects
	before := slots(t, o.ChainJmpA, o.ChainJmpB)
	dir := stateDir(t)
	tr := newInterposer(t, dir, trace.Options{Netns: e.netns()})
	alt := uint32(demodp.ChainJumpSlotCHAIN_A_ALT)
	if err := o.ChainJmpA.Put(alt, o.ChainStageTwoFinalize); err != nil {
		t.Fatalf("replace slot: %v", err)
	}
	finalID := before[0][demodp.ChainJumpSlotCHAIN_A_FINAL]
	if err := tr.Close(); err != nil {
		t.Fatalf("close tracer: %v", err)
	}
	want := slices.Clone(before[0])
	want[alt] = finalID
	if after := slots(t, o.ChainJmpA, o.ChainJmpB); !slices.Equal(after[0], want) || !slices.Equal(after[1], before[1]) {
		t.Errorf("prog_arrays after exit %v, want %v and %v", after, want, before[1])
	}
	notes := strings.Join(tr.Notices(), "\n")
	if !strings.Contains(notes, fmt.Sprintf("[%s/%d] was replaced", demodp.ChainMapChainJmpA, alt)) {
		t.Errorf("notices do not report the replaced slot:\n%s", notes)
	}
	checkNoLeftovers(t, dir)
}
