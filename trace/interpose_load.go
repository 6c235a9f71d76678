package trace

import (
	"errors"
	"fmt"

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
// slot and jumps on through shadow, at the same index. It has the type of
// the programs the prog_array holds.
func (o *objects) loadShim(t shimTarget, shadow *ebpf.Map) (*ebpf.Program, error) {
	p, err := o.load(bpf.PktlifeProgPlTailShim, progLoad{
		progType: t.progType,
		maps:     map[string]*ebpf.Map{bpf.PktlifeMapPlShadow: shadow},
		set: func(s *bpf.PktlifeSpecs) error {
			s.PlShadow.MaxEntries = shadow.MaxEntries()
			return setAll(setting{s.ShimMapId, t.mapID}, setting{s.ShimSlot, t.slot}, setting{s.ShimProgId, t.progID})
		},
	})
	if err != nil {
		return nil, fmt.Errorf("load tail-call shim: %w", err)
	}
	return p, nil
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
