package trace_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"

	"github.com/pktlife/pktlife/trace"
	"github.com/pktlife/pktlife/trace/progs/progstest"
)

// deepChain is n+1 tc programs joined by n tail calls through one
// prog_array: program i jumps to slot i+1, and returns 100+i if that jump
// fails; the last one returns chainEnd.
type deepChain struct {
	calls *ebpf.Map
	progs []*ebpf.Program
}

const chainEnd = 42

func newDeepChain(t *testing.T, n int) *deepChain {
	t.Helper()
	calls, err := ebpf.NewMap(&ebpf.MapSpec{Name: "pl_deep_calls", Type: ebpf.ProgramArray, KeySize: 4, ValueSize: 4, MaxEntries: uint32(n + 1)})
	if err != nil {
		t.Fatalf("create prog_array: %v", err)
	}
	t.Cleanup(func() { calls.Close() })
	c := &deepChain{calls: calls}
	for i := n; i >= 0; i-- {
		insns := asm.Instructions{asm.Mov.Imm(asm.R0, chainEnd), asm.Return()}
		if i < n {
			insns = asm.Instructions{
				asm.LoadMapPtr(asm.R2, calls.FD()),
				asm.Mov.Imm(asm.R3, int32(i+1)),
				asm.FnTailCall.Call(),
				asm.Mov.Imm(asm.R0, int32(100+i)),
				asm.Return(),
			}
		}
		p, err := ebpf.NewProgram(&ebpf.ProgramSpec{Name: fmt.Sprintf("pl_deep_%d", i), Type: ebpf.SchedCLS, Instructions: insns, License: "GPL"})
		if err != nil {
			t.Fatalf("load program %d: %v", i, err)
		}
		t.Cleanup(func() { p.Close() })
		if i > 0 {
			if err := calls.Put(uint32(i), p); err != nil {
				t.Fatalf("fill slot %d: %v", i, err)
			}
		}
		c.progs = append([]*ebpf.Program{p}, c.progs...)
	}
	return c
}

// run runs the chain's entry on a minimal frame and returns its verdict.
func (c *deepChain) run(t *testing.T) int32 {
	t.Helper()
	ret, err := c.progs[0].Run(&ebpf.RunOptions{Data: make([]byte, 64)})
	if err != nil {
		t.Fatalf("run chain: %v", err)
	}
	return int32(ret)
}

// attachDeepChain attaches a chain of n tail calls in a namespace of its
// own and returns the chain and the namespace's path.
func attachDeepChain(t *testing.T, n int) (*deepChain, string) {
	t.Helper()
	ns := progstest.NewNetns(t, "deep")
	c := newDeepChain(t, n)
	a, _ := ns.Veth(t, "deep0", "deep1")
	ns.AttachTCX(t, a, c.progs[0], ebpf.AttachTCXIngress)
	return c, ns.Path
}

// TestTailCallsBudget: with a shim before each jump a chain of n tail calls
// makes 2n; pktlife interposes up to 16 and refuses 17, since the kernel
// allows 33 per packet.
func TestTailCallsBudget(t *testing.T) {
	t.Run("16 fit", func(t *testing.T) {
		c, ns := attachDeepChain(t, 16)
		before := slots(t, c.calls)
		if got := c.run(t); got != chainEnd {
			t.Fatalf("chain returns %d without pktlife, want %d", got, chainEnd)
		}
		dir := stateDir(t)
		tr := newInterposer(t, dir, trace.Options{Netns: []string{ns}})
		if n := len(tr.Interposed()); n != 16 {
			t.Errorf("%d slots interposed, want 16", n)
		}
		if got := c.run(t); got != chainEnd {
			t.Errorf("interposed chain returns %d, want %d: a shim ran out of tail calls", got, chainEnd)
		}
		if n := tr.ShimMisses(); n != 0 {
			t.Errorf("%d shim misses", n)
		}
		if err := tr.Close(); err != nil {
			t.Fatal(err)
		}
		if !equalSlots(slots(t, c.calls), before) {
			t.Error("slots not restored")
		}
		checkNoLeftovers(t, dir)
	})
	t.Run("17 refused", func(t *testing.T) {
		c, ns := attachDeepChain(t, 17)
		before := slots(t, c.calls)
		dir := stateDir(t)
		opts := trace.Options{Netns: []string{ns}, TailCalls: trace.TailCallsInterpose}
		trace.SetStateDirForTest(&opts, dir)
		tr, err := trace.New(opts)
		if err == nil {
			tr.Close()
			t.Fatal("interposed a chain of 17 tail calls")
		}
		if !errors.Is(err, trace.ErrTailCallBudget) || !strings.Contains(err.Error(), "17 tail calls, 34 with a shim") {
			t.Errorf("error %q, want %v with the counts", err, trace.ErrTailCallBudget)
		}
		if testing.Verbose() {
			t.Log(err)
		}
		if strings.Contains(err.Error(), "\n") {
			t.Errorf("error is not one line: %q", err)
		}
		if !equalSlots(slots(t, c.calls), before) {
			t.Error("refusal changed the slots")
		}
		checkNoLeftovers(t, dir)
	})
	t.Run("17 forced", func(t *testing.T) {
		// With the check off, the 17th shim's jump is the packet's 34th:
		// the shim returns TC_ACT_UNSPEC and counts it, as documented.
		c, ns := attachDeepChain(t, 17)
		opts := trace.Options{Netns: []string{ns}}
		trace.IgnoreTailCallBudgetForTest(&opts)
		tr := newInterposer(t, stateDir(t), opts)
		if got := c.run(t); got != -1 {
			t.Errorf("over-budget chain returns %d, want -1 (TC_ACT_UNSPEC) from the last shim", got)
		}
		if n := tr.ShimMisses(); n != 1 {
			t.Errorf("%d shim misses, want 1", n)
		}
		if err := tr.Close(); err != nil {
			t.Fatal(err)
		}
		if got := c.run(t); got != chainEnd {
			t.Errorf("restored chain returns %d, want %d", got, chainEnd)
		}
	})
}

// TestTailCallsCycleRefused: a chain that can loop may already use all 33
// tail calls; pktlife refuses to add shims to it.
func TestTailCallsCycleRefused(t *testing.T) {
	ns := progstest.NewNetns(t, "loop")
	dp, err := progstest.NewDatapath()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dp.Close() })
	a, _ := ns.Veth(t, "loop0", "loop1")
	ns.AttachTCX(t, a, dp.Loop, ebpf.AttachTCXIngress)
	before := slots(t, dp.CallsC)
	dir := stateDir(t)
	opts := trace.Options{Netns: []string{ns.Path}, TailCalls: trace.TailCallsInterpose}
	trace.SetStateDirForTest(&opts, dir)
	tr, err := trace.New(opts)
	if err == nil {
		tr.Close()
		t.Fatal("interposed a cyclic graph")
	}
	if !errors.Is(err, trace.ErrTailCallBudget) || !strings.Contains(err.Error(), progstest.LoopName) || !strings.Contains(err.Error(), "can loop") {
		t.Errorf("error %q, want %v naming %s", err, trace.ErrTailCallBudget, progstest.LoopName)
	}
	if !equalSlots(slots(t, dp.CallsC), before) {
		t.Error("refusal changed the slots")
	}
	checkNoLeftovers(t, dir)
}
