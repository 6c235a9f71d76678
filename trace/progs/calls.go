package progs

import (
	"slices"

	"github.com/cilium/ebpf/asm"
)

// callSites is what a program's tail calls name.
type callSites struct {
	order   []uint32            // prog_array IDs, in order of their first tail call
	slots   map[uint32][]uint32 // constant indices per map ID, sorted, unique
	dynamic map[uint32]bool     // maps indexed with a run-time value
	// anyMap is set when some tail call's map is not a constant: every
	// prog_array the program uses may then be reached, at any filled slot.
	anyMap bool
}

// findTailCalls reads bpf_tail_call sites from a program's translated
// instructions, as the kernel dumps them: map pointers carry map IDs and
// tail calls appear as calls to helper 12. For each call, the values of R2
// (map) and R3 (index) are looked for backwards within its basic block,
// following register copies; anything else is reported as unknown, which
// only ever widens the result.
func findTailCalls(insns asm.Instructions) callSites {
	cs := callSites{slots: map[uint32][]uint32{}, dynamic: map[uint32]bool{}}
	starts := blockStarts(insns)
	for i := range insns {
		ins := &insns[i]
		if !ins.IsBuiltinCall() || asm.BuiltinFunc(ins.Constant) != asm.FnTailCall {
			continue
		}
		mapIns, ok := lastWrite(insns, starts, i, asm.R2)
		if !ok || !mapIns.IsLoadFromMap() || mapIns.Src != asm.PseudoMapFD {
			cs.anyMap = true
			continue
		}
		mapID := uint32(mapIns.Constant)
		if !slices.Contains(cs.order, mapID) {
			cs.order = append(cs.order, mapID)
		}
		idx, ok := constantOf(insns, starts, i, asm.R3)
		if !ok {
			cs.dynamic[mapID] = true
			continue
		}
		if !slices.Contains(cs.slots[mapID], idx) {
			cs.slots[mapID] = append(cs.slots[mapID], idx)
			slices.Sort(cs.slots[mapID])
		}
	}
	return cs
}

// blockStarts marks the instructions (by index) that some jump or call can
// land on, plus the first one: the value of a register cannot be traced
// backwards past them.
func blockStarts(insns asm.Instructions) map[int]bool {
	byOffset := make(map[asm.RawInstructionOffset]int, len(insns))
	offsets := make([]asm.RawInstructionOffset, len(insns))
	var off asm.RawInstructionOffset
	for i := range insns {
		offsets[i] = off
		byOffset[off] = i
		off += insns[i].Width()
	}
	starts := map[int]bool{0: true}
	for i := range insns {
		ins := &insns[i]
		if !ins.OpCode.Class().IsJump() {
			continue
		}
		var rel int64
		switch op := ins.OpCode.JumpOp(); {
		case op == asm.Exit:
			continue
		case op == asm.Call && !ins.IsFunctionCall():
			continue
		case op == asm.Call:
			rel = ins.Constant
		case op == asm.Ja && ins.OpCode.Class() == asm.Jump32Class:
			rel = ins.Constant // gotol: 32-bit offset in imm
		default:
			rel = int64(ins.Offset)
		}
		target := int64(offsets[i]) + 1 + rel
		if j, ok := byOffset[asm.RawInstructionOffset(target)]; ok {
			starts[j] = true
		}
	}
	return starts
}

// lastWrite finds the instruction that last wrote reg before insns[at],
// within at's basic block, following register copies (r2 = r7).
func lastWrite(insns asm.Instructions, starts map[int]bool, at int, reg asm.Register) (*asm.Instruction, bool) {
	for j := at - 1; j >= 0 && !starts[j+1]; j-- {
		ins := &insns[j]
		w, known := writes(ins, reg)
		if !w {
			continue
		}
		if !known {
			return nil, false
		}
		if isRegCopy(ins) {
			return lastWrite(insns, starts, j, ins.Src)
		}
		return ins, true
	}
	return nil, false
}

// constantOf is the 32-bit constant reg holds before insns[at], if known.
func constantOf(insns asm.Instructions, starts map[int]bool, at int, reg asm.Register) (uint32, bool) {
	ins, ok := lastWrite(insns, starts, at, reg)
	if !ok {
		return 0, false
	}
	switch {
	case ins.OpCode.Class().IsALU() && ins.OpCode.ALUOp() == asm.Mov && ins.OpCode.Source() == asm.ImmSource:
		return uint32(ins.Constant), true
	case ins.IsConstantLoad(asm.DWord):
		return uint32(ins.Constant), true
	}
	return 0, false
}

func isRegCopy(ins *asm.Instruction) bool {
	return ins.OpCode.Class() == asm.ALU64Class && ins.OpCode.ALUOp() == asm.Mov &&
		ins.OpCode.Source() == asm.RegSource
}

// writes says whether ins changes reg, and if so whether the new value is
// one lastWrite can describe (false for calls and atomics clobbering it).
func writes(ins *asm.Instruction, reg asm.Register) (w, known bool) {
	cls := ins.OpCode.Class()
	switch {
	case cls.IsALU(), cls == asm.LdXClass:
		return ins.Dst == reg, true
	case cls == asm.LdClass && ins.OpCode.IsDWordLoad():
		return ins.Dst == reg, true
	case cls == asm.LdClass: // legacy packet loads clobber R0-R5
		return reg <= asm.R5, false
	case cls.IsJump() && ins.OpCode.JumpOp() == asm.Call:
		return reg <= asm.R5, false
	case cls == asm.StXClass && ins.OpCode.Mode() == asm.AtomicMode:
		return ins.Src == reg || reg == asm.R0, false
	}
	return false, true
}
