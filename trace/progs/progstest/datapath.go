// Package progstest builds a small tc datapath joined by tail calls, and
// throwaway network namespaces to attach it in, for kernel tests of tail-call
// discovery and interposition. The programs are assembled in Go and carry
// BTF function info, so their full names (longer than the kernel's 15
// characters) can be read back.
package progstest

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
)

// Names of the programs and maps of the Datapath.
const (
	EntryName    = "pktlife_test_entry_ingress" // tail-calls CallsA[1] (empty), then CallsA[0]
	LevelOneName = "pktlife_test_level_one"     // tail-calls CallsB[0], then CallsB[1]
	LevelTwoName = "pktlife_test_level_two"     // tail-calls CallsA[2], then CallsB[2]
	LevelThree   = "pktlife_test_level_three"   // returns
	SharedName   = "pktlife_test_shared_target" // in CallsA[2] and CallsB[1]; returns
	DynamicName  = "pktlife_test_egress_dynamic"
	LoopName     = "pktlife_test_self_loop" // tail-calls CallsC[0], which holds itself

	CallsAName = "pl_calls_a"
	CallsBName = "pl_calls_b"
	CallsCName = "pl_calls_c"
)

// Mark bits each program ORs into skb->mark, so a test can see which ran.
const (
	MarkEntry uint32 = 1 << iota
	MarkLevelOne
	MarkLevelTwo
	MarkLevelThree
	MarkShared
	MarkDynamic
	MarkLoop
)

// Datapath is the test datapath:
//
//	Entry ─A[1] (empty), A[0]→ LevelOne ─B[0]→ LevelTwo ─A[2]→ Shared
//	                                   │                └─B[2]→ LevelThree
//	                                   └─B[1]→ Shared
//	Dynamic ─B[mark & 3] (index known only at run time)
//	Loop ─C[0]→ Loop
//
// Every program returns TC_ACT_OK when its tail calls fall through.
type Datapath struct {
	CallsA, CallsB, CallsC                    *ebpf.Map
	Entry, LevelOne, LevelTwo, LevelThreeProg *ebpf.Program
	Shared, Dynamic, Loop                     *ebpf.Program
}

// call is one bpf_tail_call: into m at a constant index, or at skb->mark&3
// when dynamic.
type call struct {
	m       *ebpf.Map
	index   uint32
	dynamic bool
}

// NewDatapath loads the datapath and fills its prog_arrays.
func NewDatapath() (dp *Datapath, err error) {
	dp = &Datapath{}
	defer func() {
		if err != nil {
			dp.Close()
		}
	}()
	for _, m := range []struct {
		dst  **ebpf.Map
		name string
	}{{&dp.CallsA, CallsAName}, {&dp.CallsB, CallsBName}, {&dp.CallsC, CallsCName}} {
		*m.dst, err = ebpf.NewMap(&ebpf.MapSpec{
			Name: m.name, Type: ebpf.ProgramArray, KeySize: 4, ValueSize: 4, MaxEntries: 4,
		})
		if err != nil {
			return nil, fmt.Errorf("create map %s: %w", m.name, err)
		}
	}
	for _, p := range []struct {
		dst   **ebpf.Program
		name  string
		mark  uint32
		calls []call
	}{
		{&dp.Shared, SharedName, MarkShared, nil},
		{&dp.LevelThreeProg, LevelThree, MarkLevelThree, nil},
		{&dp.LevelTwo, LevelTwoName, MarkLevelTwo, []call{{m: dp.CallsA, index: 2}, {m: dp.CallsB, index: 2}}},
		{&dp.LevelOne, LevelOneName, MarkLevelOne, []call{{m: dp.CallsB, index: 0}, {m: dp.CallsB, index: 1}}},
		{&dp.Entry, EntryName, MarkEntry, []call{{m: dp.CallsA, index: 1}, {m: dp.CallsA, index: 0}}},
		{&dp.Dynamic, DynamicName, MarkDynamic, []call{{m: dp.CallsB, dynamic: true}}},
		{&dp.Loop, LoopName, MarkLoop, []call{{m: dp.CallsC, index: 0}}},
	} {
		*p.dst, err = loadProgram(p.name, p.mark, p.calls)
		if err != nil {
			return nil, err
		}
	}
	for _, s := range []struct {
		m    *ebpf.Map
		slot uint32
		p    *ebpf.Program
	}{
		{dp.CallsA, 0, dp.LevelOne}, {dp.CallsA, 2, dp.Shared},
		{dp.CallsB, 0, dp.LevelTwo}, {dp.CallsB, 1, dp.Shared}, {dp.CallsB, 2, dp.LevelThreeProg},
		{dp.CallsC, 0, dp.Loop},
	} {
		if err := s.m.Put(s.slot, s.p); err != nil {
			return nil, fmt.Errorf("fill slot %d: %w", s.slot, err)
		}
	}
	return dp, nil
}

// Close unloads everything; the prog_arrays go (and empty) with their fds.
// It is safe to call twice.
func (dp *Datapath) Close() error {
	var errs []error
	for _, p := range []**ebpf.Program{
		&dp.Loop, &dp.Dynamic, &dp.Entry, &dp.LevelOne, &dp.LevelTwo, &dp.LevelThreeProg, &dp.Shared,
	} {
		if *p != nil {
			errs = append(errs, (*p).Close())
			*p = nil
		}
	}
	for _, m := range []**ebpf.Map{&dp.CallsC, &dp.CallsB, &dp.CallsA} {
		if *m != nil {
			errs = append(errs, (*m).Close())
			*m = nil
		}
	}
	return errors.Join(errs...)
}

// skbMarkOff is offsetof(struct __sk_buff, mark).
const skbMarkOff = 8

// loadProgram assembles a sched_cls program that ORs mark into skb->mark,
// makes the given tail calls in order and returns TC_ACT_OK. Its first
// instruction carries BTF func info naming the program in full.
func loadProgram(name string, mark uint32, calls []call) (*ebpf.Program, error) {
	fn := &btf.Func{
		Name: name,
		Type: &btf.FuncProto{
			Return: &btf.Int{Name: "int", Size: 4, Encoding: btf.Signed},
			Params: []btf.FuncParam{{
				Name: "skb",
				Type: &btf.Pointer{Target: &btf.Struct{Name: "__sk_buff"}},
			}},
		},
		Linkage: btf.GlobalFunc,
	}
	insns := asm.Instructions{
		btf.WithFuncMetadata(asm.Mov.Reg(asm.R6, asm.R1), fn).WithSymbol(name),
		asm.LoadMem(asm.R7, asm.R6, skbMarkOff, asm.Word),
		asm.Or.Imm32(asm.R7, int32(mark)),
		asm.StoreMem(asm.R6, skbMarkOff, asm.R7, asm.Word),
	}
	for _, c := range calls {
		insns = append(insns,
			asm.Mov.Reg(asm.R1, asm.R6),
			asm.LoadMapPtr(asm.R2, c.m.FD()),
		)
		if c.dynamic {
			insns = append(insns,
				asm.LoadMem(asm.R3, asm.R6, skbMarkOff, asm.Word),
				asm.And.Imm32(asm.R3, 3),
			)
		} else {
			insns = append(insns, asm.Mov.Imm32(asm.R3, int32(c.index)))
		}
		insns = append(insns, asm.FnTailCall.Call())
	}
	insns = append(insns, asm.Mov.Imm(asm.R0, 0), asm.Return())
	p, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name:         name, // cut to 15 characters by the kernel
		Type:         ebpf.SchedCLS,
		Instructions: insns,
		License:      "GPL",
	})
	if err != nil {
		return nil, fmt.Errorf("load program %s: %w", name, err)
	}
	return p, nil
}
