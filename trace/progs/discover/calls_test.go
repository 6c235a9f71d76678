package discover

import (
	"bytes"
	"encoding/binary"
	"reflect"
	"testing"

	"github.com/cilium/ebpf/asm"
)

// In dumped instructions a map pointer load carries the map's ID where a
// loader would put an fd; asm.LoadMapPtr builds the same instruction.
func mapPtr(dst asm.Register, id int) asm.Instruction { return asm.LoadMapPtr(dst, id) }

func tailCall() asm.Instruction { return asm.FnTailCall.Call() }

func TestFindTailCalls(t *testing.T) {
	for _, tc := range []struct {
		name  string
		insns asm.Instructions
		want  callSites
	}{
		{
			name: "constant slots in order",
			insns: asm.Instructions{
				asm.Mov.Reg(asm.R6, asm.R1),
				mapPtr(asm.R2, 20), asm.Mov.Imm32(asm.R3, 4), tailCall(),
				asm.Mov.Reg(asm.R1, asm.R6), mapPtr(asm.R2, 10), asm.Mov.Imm(asm.R3, 1), tailCall(),
				asm.Mov.Reg(asm.R1, asm.R6), mapPtr(asm.R2, 20), asm.LoadImm(asm.R3, 2, asm.DWord), tailCall(),
				asm.Mov.Imm(asm.R0, 0), asm.Return(),
			},
			want: callSites{order: []uint32{20, 10}, slots: map[uint32][]uint32{20: {2, 4}, 10: {1}}, dynamic: map[uint32]bool{}},
		},
		{
			name: "index from the packet",
			insns: asm.Instructions{
				mapPtr(asm.R2, 7), asm.LoadMem(asm.R3, asm.R1, 8, asm.Word), tailCall(), asm.Return(),
			},
			want: callSites{order: []uint32{7}, slots: map[uint32][]uint32{}, dynamic: map[uint32]bool{7: true}},
		},
		{
			name: "map and index through register copies",
			insns: asm.Instructions{
				mapPtr(asm.R8, 9), asm.Mov.Imm(asm.R7, 3),
				asm.Mov.Reg(asm.R2, asm.R8), asm.Mov.Reg(asm.R3, asm.R7), tailCall(), asm.Return(),
			},
			want: callSites{order: []uint32{9}, slots: map[uint32][]uint32{9: {3}}, dynamic: map[uint32]bool{}},
		},
		{
			// The index differs by path: both slots are reachable.
			name: "index set on two paths",
			insns: asm.Instructions{
				mapPtr(asm.R2, 5), asm.Mov.Imm(asm.R3, 1),
				asm.JEq.Imm(asm.R1, 0, "call"),
				asm.Mov.Imm(asm.R3, 2),
				tailCall().WithSymbol("call"), asm.Return(),
			},
			want: callSites{order: []uint32{5}, slots: map[uint32][]uint32{5: {1, 2}}, dynamic: map[uint32]bool{}},
		},
		{
			name: "index changed after the constant",
			insns: asm.Instructions{
				mapPtr(asm.R2, 5), asm.Mov.Imm(asm.R3, 1), asm.Add.Imm(asm.R3, 1), tailCall(), asm.Return(),
			},
			want: callSites{order: []uint32{5}, slots: map[uint32][]uint32{}, dynamic: map[uint32]bool{5: true}},
		},
		{
			name: "helper call clobbers the map register",
			insns: asm.Instructions{
				mapPtr(asm.R2, 5), asm.FnKtimeGetNs.Call(), asm.Mov.Imm(asm.R3, 0), tailCall(), asm.Return(),
			},
			want: callSites{order: nil, slots: map[uint32][]uint32{}, dynamic: map[uint32]bool{}, anyMap: true},
		},
		{
			// A switch as clang compiles it: the slot is chosen on several
			// paths and a 32-bit copy feeds one shared call.
			name: "switch into one call site",
			insns: asm.Instructions{
				asm.Mov.Reg(asm.R6, asm.R1),
				asm.LoadMem(asm.R8, asm.R1, 0, asm.Word),
				asm.Mov.Imm(asm.R7, 3),
				asm.JEq.Imm(asm.R8, 1, "one"),
				asm.JEq.Imm(asm.R8, 2, "two"),
				asm.Ja.Label("call"),
				asm.Mov.Imm(asm.R7, 0).WithSymbol("one"),
				asm.Ja.Label("call"),
				asm.Mov.Imm32(asm.R7, 2).WithSymbol("two"),
				asm.Mov.Reg(asm.R1, asm.R6).WithSymbol("call"),
				mapPtr(asm.R2, 11),
				asm.Mov.Reg32(asm.R3, asm.R7),
				tailCall(),
				asm.Mov.Imm(asm.R0, 0), asm.Return(),
			},
			want: callSites{order: []uint32{11}, slots: map[uint32][]uint32{11: {0, 2, 3}}, dynamic: map[uint32]bool{}},
		},
		{
			// Two maps reach one call: every index goes with each.
			name: "two maps one call",
			insns: asm.Instructions{
				mapPtr(asm.R2, 4), asm.Mov.Imm(asm.R3, 0),
				asm.JEq.Imm(asm.R1, 0, "call"),
				mapPtr(asm.R2, 8), asm.Mov.Imm(asm.R3, 1),
				tailCall().WithSymbol("call"), asm.Return(),
			},
			want: callSites{order: []uint32{4, 8}, slots: map[uint32][]uint32{4: {0, 1}, 8: {0, 1}}, dynamic: map[uint32]bool{}},
		},
		{
			// A subprogram's arguments are unknown.
			name: "tail call in a subprogram",
			insns: asm.Instructions{
				asm.Mov.Imm(asm.R3, 1), mapPtr(asm.R2, 5),
				asm.Call.Label("sub"), asm.Return(),
				tailCall().WithSymbol("sub"), asm.Return(),
			},
			want: callSites{order: nil, slots: map[uint32][]uint32{}, dynamic: map[uint32]bool{}, anyMap: true},
		},
		{
			// A conditional jump before the call, whose fall-through reaches
			// it, does not end what is known.
			name: "fall-through keeps values",
			insns: asm.Instructions{
				mapPtr(asm.R2, 5), asm.Mov.Imm(asm.R3, 6),
				asm.JEq.Imm(asm.R1, 0, "out"),
				tailCall(),
				asm.Mov.Imm(asm.R0, 0).WithSymbol("out"), asm.Return(),
			},
			want: callSites{order: []uint32{5}, slots: map[uint32][]uint32{5: {6}}, dynamic: map[uint32]bool{}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Encode and decode, as the kernel's dump is read: jumps get
			// offsets and lose their symbols.
			var buf bytes.Buffer
			if err := tc.insns.Marshal(&buf, binary.LittleEndian); err != nil {
				t.Fatalf("marshal: %v", err)
			}
			insns, err := asm.AppendInstructions(nil, &buf, binary.LittleEndian, "linux")
			if err != nil {
				t.Fatalf("unmarshal: %v", err)
			}
			got := findTailCalls(insns)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("findTailCalls =\n%+v\nwant\n%+v", got, tc.want)
			}
		})
	}
}
