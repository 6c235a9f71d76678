package ciliumbed

import (
	"encoding/binary"
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
)

// inlineGlobalData does what cilium-agent up to 1.15 does to an object
// before loading it: Cilium's DEFINE_U32 and friends live in .data, but its
// fetch_* macros read them as the 64-bit immediate of an instruction that
// loads the variable's address, and the agent replaces that instruction
// with a load of the variable's value. Without this, the verifier sees
// pointer arithmetic. Objects without .data (current releases keep their
// configuration in .rodata.config, read as ordinary globals) are left as
// they are.
func inlineGlobalData(spec *ebpf.CollectionSpec) error {
	data := spec.Maps[".data"]
	if data == nil || len(data.Contents) != 1 {
		return nil
	}
	values := map[uint32]uint64{}
	for _, v := range spec.Variables {
		if v.SectionName != ".data" {
			continue
		}
		val := make([]byte, v.Size())
		if err := v.Get(val); err != nil {
			return fmt.Errorf("inline .data: read %s: %w", v.Name, err)
		}
		var buf [8]byte
		copy(buf[:], val)
		values[v.Offset] = binary.LittleEndian.Uint64(buf[:])
	}
	for name, p := range spec.Programs {
		for i, ins := range p.Instructions {
			if !ins.IsLoadFromMap() || ins.Src != asm.PseudoMapValue || ins.Reference() != ".data" {
				continue
			}
			off := uint32(uint64(ins.Constant) >> 32)
			v, ok := values[off]
			if !ok {
				return fmt.Errorf("inline .data in %s: no variable at offset %d", name, off)
			}
			p.Instructions[i] = asm.LoadImm(ins.Dst, int64(v), asm.DWord).WithMetadata(ins.Metadata).WithReference("")
		}
	}
	return nil
}
