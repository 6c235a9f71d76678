//go:build linux

package discover

import (
	"cmp"
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
// tail calls appear as calls to helper 12. A forward data-flow pass over the
// control-flow graph tracks, per register, the small set of constants or map
// pointers it may hold (a switch that picks the slot gives several); whatever
// it cannot follow becomes unknown, which only ever widens the result.
func findTailCalls(insns asm.Instructions) callSites {
	cs := callSites{slots: map[uint32][]uint32{}, dynamic: map[uint32]bool{}}
	states := flowStates(insns)
	for i := range insns {
		ins := &insns[i]
		if states[i] == nil || !ins.IsBuiltinCall() || asm.BuiltinFunc(ins.Constant) != asm.FnTailCall {
			continue
		}
		maps, idx := states[i][asm.R2], states[i][asm.R3]
		if maps.top || len(maps.vals) == 0 || slices.ContainsFunc(maps.vals, func(v value) bool { return !v.isMap }) {
			cs.anyMap = true
			continue
		}
		idxKnown := !idx.top && len(idx.vals) > 0 && !slices.ContainsFunc(idx.vals, func(v value) bool { return v.isMap })
		for _, m := range maps.vals {
			id := uint32(m.v)
			if !slices.Contains(cs.order, id) {
				cs.order = append(cs.order, id)
			}
			if !idxKnown {
				cs.dynamic[id] = true
				continue
			}
			for _, k := range idx.vals {
				if !slices.Contains(cs.slots[id], uint32(k.v)) {
					cs.slots[id] = append(cs.slots[id], uint32(k.v))
				}
			}
			slices.Sort(cs.slots[id])
		}
	}
	return cs
}

// value is a constant or the pointer to the map with ID v.
type value struct {
	isMap bool
	v     uint64
}

// absVal is what a register may hold: one of vals, or anything (top).
type absVal struct {
	top  bool
	vals []value // sorted, unique
}

// maxVals bounds a register's set; beyond it the value is unknown.
const maxVals = 64

var unknown = absVal{top: true}

func known(v value) absVal { return absVal{vals: []value{v}} }

func (a absVal) join(b absVal) absVal {
	if a.top || b.top {
		return unknown
	}
	vals := slices.Concat(a.vals, b.vals)
	slices.SortFunc(vals, func(x, y value) int {
		if x.isMap != y.isMap {
			if x.isMap {
				return 1
			}
			return -1
		}
		return cmp.Compare(x.v, y.v)
	})
	vals = slices.Compact(vals)
	if len(vals) > maxVals {
		return unknown
	}
	return absVal{vals: vals}
}

// low32 is a after a 32-bit move: constants cut, pointers lost.
func (a absVal) low32() absVal {
	if a.top {
		return unknown
	}
	out := absVal{}
	for _, v := range a.vals {
		if v.isMap {
			return unknown
		}
		out = out.join(known(value{v: uint64(uint32(v.v))}))
	}
	return out
}

func (a absVal) equal(b absVal) bool { return a.top == b.top && slices.Equal(a.vals, b.vals) }

// regState is the abstract value of R0–R10 before an instruction.
type regState [asm.R10 + 1]absVal

func allUnknown() *regState {
	var s regState
	for i := range s {
		s[i] = unknown
	}
	return &s
}

// flow is the forward data-flow pass of flowStates: register states per
// instruction, and the instructions whose state changed and must be
// propagated again.
type flow struct {
	insns    asm.Instructions
	offsets  []int64       // instruction index → offset in 64-bit words
	byOffset map[int64]int // the inverse
	states   []*regState
	work     []int
}

func newFlow(insns asm.Instructions) *flow {
	f := &flow{insns: insns, offsets: make([]int64, len(insns)), byOffset: make(map[int64]int, len(insns)), states: make([]*regState, len(insns))}
	var off int64
	for i := range insns {
		f.offsets[i], f.byOffset[off] = off, i
		off += int64(insns[i].Width())
	}
	return f
}

// target is the index of the instruction rel words after i's successor.
func (f *flow) target(i int, rel int64) (int, bool) {
	j, ok := f.byOffset[f.offsets[i]+1+rel]
	return j, ok
}

// merge joins s into instruction j's entry state, queueing j when it
// changed.
func (f *flow) merge(j int, s *regState) {
	if f.states[j] == nil {
		c := *s
		f.states[j] = &c
		f.work = append(f.work, j)
		return
	}
	changed := false
	for r := range s {
		if n := f.states[j][r].join(s[r]); !n.equal(f.states[j][r]) {
			f.states[j][r], changed = n, true
		}
	}
	if changed {
		f.work = append(f.work, j)
	}
}

// jumpStep applies a jump-class instruction i to s and returns where it
// may go: the jump target (-1 for none) and whether it falls through.
func (f *flow) jumpStep(i int, s *regState) (jump int, fallThrough bool) {
	ins := &f.insns[i]
	switch op := ins.OpCode.JumpOp(); {
	case op == asm.Exit:
		return -1, false
	case op == asm.Call:
		for r := asm.R0; r <= asm.R5; r++ {
			s[r] = unknown
		}
		return -1, true
	case op == asm.Ja:
		rel := int64(ins.Offset)
		if ins.OpCode.Class() == asm.Jump32Class {
			rel = ins.Constant // gotol: 32-bit offset in imm
		}
		j, ok := f.target(i, rel)
		if !ok {
			j = -1
		}
		return j, false
	}
	j, ok := f.target(i, int64(ins.Offset))
	if !ok {
		j = -1
	}
	return j, true
}

// flowStates computes, per instruction index, the register state on entry
// (nil where no path reaches). Entry points are the first instruction and
// every subprogram or callback, all starting with unknown registers.
func flowStates(insns asm.Instructions) []*regState {
	f := newFlow(insns)
	if len(insns) > 0 {
		f.merge(0, allUnknown())
	}
	for i := range insns {
		if insns[i].IsFunctionCall() || insns[i].IsLoadOfFunctionPointer() {
			if j, ok := f.target(i, insns[i].Constant); ok {
				f.merge(j, allUnknown())
			}
		}
	}
	for len(f.work) > 0 {
		i := f.work[len(f.work)-1]
		f.work = f.work[:len(f.work)-1]
		s := *f.states[i]
		jump, fallThrough := -1, true
		if insns[i].OpCode.Class().IsJump() {
			jump, fallThrough = f.jumpStep(i, &s)
		} else {
			step(&insns[i], &s)
		}
		if jump >= 0 {
			f.merge(jump, &s)
		}
		if fallThrough && i+1 < len(insns) {
			f.merge(i+1, &s)
		}
	}
	return f.states
}

// step applies a non-jump instruction to s.
func step(ins *asm.Instruction, s *regState) {
	cls := ins.OpCode.Class()
	switch {
	case cls.IsALU() && ins.OpCode.ALUOp() == asm.Mov:
		stepMov(ins, s)
	case cls.IsALU(), cls == asm.LdXClass:
		s[ins.Dst] = unknown
	case cls == asm.LdClass && ins.OpCode.IsDWordLoad():
		s[ins.Dst] = dwordLoad(ins)
	case cls == asm.LdClass: // legacy packet loads clobber R0–R5
		for r := asm.R0; r <= asm.R5; r++ {
			s[r] = unknown
		}
	case cls == asm.StXClass && ins.OpCode.Mode() == asm.AtomicMode:
		s[ins.Src], s[asm.R0] = unknown, unknown
	}
}

// stepMov applies a 32- or 64-bit mov to s.
func stepMov(ins *asm.Instruction, s *regState) {
	alu32 := ins.OpCode.Class() == asm.ALUClass
	switch {
	case ins.OpCode.Source() == asm.ImmSource:
		v := uint64(ins.Constant) // sign-extended by ALU64 mov
		if alu32 {
			v = uint64(uint32(v))
		}
		s[ins.Dst] = known(value{v: v})
	case alu32:
		s[ins.Dst] = s[ins.Src].low32()
	default:
		s[ins.Dst] = s[ins.Src]
	}
}

// dwordLoad is what a 64-bit immediate load puts in its register.
func dwordLoad(ins *asm.Instruction) absVal {
	switch {
	case ins.IsLoadFromMap() && ins.Src == asm.PseudoMapFD:
		return known(value{isMap: true, v: uint64(uint32(ins.Constant))})
	case ins.IsConstantLoad(asm.DWord):
		return known(value{v: uint64(ins.Constant)})
	}
	return unknown
}
