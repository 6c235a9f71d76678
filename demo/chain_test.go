package demo

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/pktlife/pktlife/bpf/demodp"
)

func TestChain(t *testing.T) {
	requireRoot(t)
	for _, legacy := range []bool{false, true} {
		t.Run(fmt.Sprintf("legacy=%v", legacy), func(t *testing.T) {
			ctx := testContext(t)
			topo := newTopology(t, Options{})
			c, err := LoadChain(ChainOptions{NetnsPath: topo.Node.Path, Ifindex: topo.PodA.NodeIfindex, Legacy: legacy})
			if err != nil {
				t.Fatalf("load chain: %v", err)
			}
			t.Cleanup(func() {
				if err := c.Close(); err != nil {
					t.Errorf("close chain: %v", err)
				}
			})
			checkSharedProgram(t, c)

			// A port outside the chain's range leaves no trace.
			if err := SendUDP(ctx, topo.PodA.Path, netip.AddrPortFrom(topo.PodB.IP(), 6999), []byte("x")); err != nil {
				t.Fatal(err)
			}
			for _, p := range ChainPaths() {
				dst := netip.AddrPortFrom(topo.PodB.IP(), p.Port)
				if err := SendUDP(ctx, topo.PodA.Path, dst, []byte("chain")); err != nil {
					t.Fatal(err)
				}
				var res demodp.ChainResult
				eventually(t, ctx, fmt.Sprintf("result for port %d", p.Port), func() (bool, error) {
					var ok bool
					var err error
					res, ok, err = c.Result(p.Port)
					return ok, err
				})
				if res.Mark != p.Mark {
					t.Errorf("port %d: mark %#x, want %#x", p.Port, res.Mark, p.Mark)
				}
				if res.Packets != 1 {
					t.Errorf("port %d: %d packets, want 1", p.Port, res.Packets)
				}
			}
			for s, want := range map[demodp.ChainCounter]uint64{
				demodp.ChainCounterCHAIN_STAT_ENTRY:  uint64(len(ChainPaths())),
				demodp.ChainCounterCHAIN_STAT_MISS_A: 1,
				demodp.ChainCounterCHAIN_STAT_MISS_B: 1,
				demodp.ChainCounterCHAIN_STAT_FINAL:  3,
			} {
				got, err := c.Counter(s)
				if err != nil {
					t.Fatal(err)
				}
				if got != want {
					t.Errorf("counter %d: %d, want %d", s, got, want)
				}
			}
			if _, ok, _ := c.Result(6999); ok {
				t.Error("port 6999 has a chain result")
			}
		})
	}
}

// checkSharedProgram checks the designed slots: one program in two maps,
// and the empty slots empty.
func checkSharedProgram(t *testing.T, c *Chain) {
	t.Helper()
	info, err := c.Objects.ChainStageTwoFinalize.Info()
	if err != nil {
		t.Fatal(err)
	}
	final, _ := info.ID()
	for _, s := range []struct {
		m    *ebpf.Map
		slot demodp.ChainJumpSlot
	}{{c.Objects.ChainJmpA, demodp.ChainJumpSlotCHAIN_A_FINAL}, {c.Objects.ChainJmpB, demodp.ChainJumpSlotCHAIN_B_FINAL}} {
		var id uint32
		if err := s.m.Lookup(uint32(s.slot), &id); err != nil {
			t.Fatalf("look up slot %d: %v", s.slot, err)
		}
		if ebpf.ProgramID(id) != final {
			t.Errorf("slot %d: program %d, want chain_stage_two_finalize %d", s.slot, id, final)
		}
	}
	var id uint32
	if err := c.Objects.ChainJmpA.Lookup(uint32(demodp.ChainJumpSlotCHAIN_A_EMPTY), &id); err == nil {
		t.Errorf("chain_jmp_a empty slot holds program %d", id)
	}
	if err := c.Objects.ChainJmpB.Lookup(uint32(demodp.ChainJumpSlotCHAIN_B_EMPTY), &id); err == nil {
		t.Errorf("chain_jmp_b empty slot holds program %d", id)
	}
}

// TestChainPaths checks the table itself: every path's mark follows from
// its steps, so the table and the C program cannot drift silently.
func TestChainPaths(t *testing.T) {
	bits := map[string]uint32{
		demodp.ChainProgChainStageOneInspect:  ChainMarkInspect,
		demodp.ChainProgChainAltRewriter:      ChainMarkAlt,
		demodp.ChainProgChainStageTwoFinalize: ChainMarkFinal,
	}
	seen := map[uint16]bool{}
	levels := 0
	for _, p := range ChainPaths() {
		if seen[p.Port] {
			t.Errorf("port %d listed twice", p.Port)
		}
		seen[p.Port] = true
		mark := ChainMarkBase | ChainMarkEntry
		for _, s := range p.Steps {
			switch {
			case s.Program != "":
				mark |= bits[s.Program]
			case s.Map == demodp.ChainMapChainJmpA:
				mark |= ChainMarkMissA
			default:
				mark |= ChainMarkMissB
			}
		}
		if mark != p.Mark {
			t.Errorf("port %d: table mark %#x, steps give %#x", p.Port, p.Mark, mark)
		}
		levels = max(levels, 1+len(p.Steps))
	}
	if levels < 3 {
		t.Errorf("deepest path has %d levels, want at least 3", levels)
	}
}

// TestChainTransparent puts the chain ahead of the demo datapath on pod A's
// device: packets that are not the chain's still reach the datapath.
func TestChainTransparent(t *testing.T) {
	requireRoot(t)
	for _, legacy := range []bool{false, true} {
		t.Run(fmt.Sprintf("legacy=%v", legacy), func(t *testing.T) {
			ctx := testContext(t)
			topo := newTopology(t, Options{})
			c, err := LoadChain(ChainOptions{NetnsPath: topo.Node.Path, Ifindex: topo.PodA.NodeIfindex, Legacy: legacy, Priority: DefaultPriority})
			if err != nil {
				t.Fatalf("load chain: %v", err)
			}
			t.Cleanup(func() { c.Close() })
			dp := loadDatapath(t, topo, DatapathOptions{Legacy: legacy, Priority: DefaultPriority + 10})
			srv, err := StartUDPEcho(ctx, topo.PodB.Path, topo.Backend())
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			if _, err := UDPRoundTrip(ctx, topo.PodA.Path, topo.Service, []byte("through")); err != nil {
				t.Fatalf("round trip behind the chain: %v", err)
			}
			if n, err := dp.Counter(demodp.DemoStatDEMO_STAT_DNAT); err != nil || n == 0 {
				t.Errorf("DNAT counter %d (%v), want > 0", n, err)
			}
			if n, err := c.Counter(demodp.ChainCounterCHAIN_STAT_ENTRY); err != nil || n != 0 {
				t.Errorf("chain entry counter %d (%v), want 0", n, err)
			}
		})
	}
}
