package trace

import (
	"errors"
	"fmt"
	"maps"

	"github.com/cilium/ebpf"

	"github.com/pktlife/pktlife/bpf"
)

// newShadow creates a shadow prog_array for an original with maxEntries
// slots.
func (o *objects) newShadow(maxEntries uint32) (*ebpf.Map, error) {
	ms := o.spec.Maps[bpf.PktlifeMapPlShadow].Copy()
	ms.MaxEntries = maxEntries
	m, err := ebpf.NewMap(ms)
	if err != nil {
		return nil, fmt.Errorf("create shadow prog_array: %w", err)
	}
	return m, nil
}

// shimTarget is the slot a shim is loaded for.
type shimTarget struct {
	mapID, slot, progID uint32
	progType            ebpf.ProgramType
}

// loadShim loads one pl_tail_shim for a slot: it records jumps into the
// slot and jumps on through shadow, at the same index.
// The spec copied keeps the tracer's settings (the idle time).
func (o *objects) loadShim(t shimTarget, shadow *ebpf.Map) (*ebpf.Program, error) {
	cs := o.spec.Copy()
	var specs bpf.PktlifeSpecs
	if err := cs.Assign(&specs); err != nil {
		return nil, fmt.Errorf("assign shim spec: %w", err)
	}
	for _, v := range []struct {
		spec *ebpf.VariableSpec
		val  uint32
	}{{specs.ShimMapId, t.mapID}, {specs.ShimSlot, t.slot}, {specs.ShimProgId, t.progID}} {
		if err := v.spec.Set(v.val); err != nil {
			return nil, fmt.Errorf("set shim %s: %w", v.spec.Name, err)
		}
	}
	// The shim must have the type of the programs the prog_array holds.
	specs.PlTailShim.Type = t.progType
	specs.PlShadow.MaxEntries = shadow.MaxEntries()
	cs.Programs = map[string]*ebpf.ProgramSpec{bpf.PktlifeProgPlTailShim: specs.PlTailShim}
	repl := maps.Clone(o.repl)
	repl[bpf.PktlifeMapPlShadow] = shadow
	coll, err := ebpf.NewCollectionWithOptions(cs, ebpf.CollectionOptions{MapReplacements: repl})
	if err != nil {
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			return nil, fmt.Errorf("load tail-call shim: %+v", ve)
		}
		return nil, fmt.Errorf("load tail-call shim: %w", err)
	}
	defer coll.Close()
	return coll.DetachProgram(bpf.PktlifeProgPlTailShim), nil
}

// progID returns a program's kernel ID.
func progID(p *ebpf.Program) (uint32, error) {
	info, err := p.Info()
	if err != nil {
		return 0, fmt.Errorf("read program info: %w", err)
	}
	id, ok := info.ID()
	if !ok {
		return 0, errors.New("read program info: no ID")
	}
	return uint32(id), nil
}

// mapID returns a map's kernel ID.
func mapID(m *ebpf.Map) (uint32, error) {
	info, err := m.Info()
	if err != nil {
		return 0, fmt.Errorf("read map info: %w", err)
	}
	id, ok := info.ID()
	if !ok {
		return 0, errors.New("read map info: no ID")
	}
	return uint32(id), nil
}
