//go:build linux

package discover

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/cilium/ebpf"

	"github.com/pktlife/pktlife/trace/progs"
)

// walker expands programs into Nodes, each program once per graph.
type walker struct {
	ctx      context.Context
	expanded map[uint32]bool
	names    map[uint32]progs.Node // ID, Name, Tag, Type of every program read
	// arrays caches every map read, so that a prog_array shared by several
	// programs is read once and shown the same everywhere; nil for maps of
	// other types.
	arrays map[uint32]*arrayContents
	pins   pinNames // full names of maps whose kernel name was cut
}

func newWalker(ctx context.Context) *walker {
	return &walker{ctx: ctx, expanded: map[uint32]bool{}, names: map[uint32]progs.Node{},
		arrays: map[uint32]*arrayContents{}}
}

// node returns the program with the given ID, expanded if this is the first
// time the graph meets it and as a Ref otherwise. A program that cannot be
// read becomes a node with Error set; only a cancelled context fails.
func (w *walker) node(id uint32) (progs.Node, error) {
	if err := w.ctx.Err(); err != nil {
		return progs.Node{}, fmt.Errorf("walk programs: %w", err)
	}
	if w.expanded[id] {
		n := w.names[id]
		n.Ref = true
		return n, nil
	}
	w.expanded[id] = true

	n, info, err := readProgram(id)
	if err != nil {
		return progs.Node{ID: id, Error: err.Error()}, nil
	}
	w.names[id] = n

	mapIDs, _ := info.MapIDs()
	arrays, err := w.progArrays(mapIDs)
	if err != nil {
		n.Error = err.Error()
		return n, nil
	}
	if len(arrays) == 0 {
		return n, nil
	}
	cs := callSites{anyMap: true}
	if insns, err := info.Instructions(); err == nil {
		cs = findTailCalls(insns)
	}
	for _, pa := range reachedArrays(arrays, cs) {
		for i := range pa.Slots {
			s := &pa.Slots[i]
			if s.Empty {
				continue
			}
			child, err := w.node(s.Prog.ID)
			if err != nil {
				return progs.Node{}, err
			}
			s.Prog = &child
		}
		n.Maps = append(n.Maps, pa)
	}
	return n, nil
}

// readProgram reads a program's identity, holding its fd only meanwhile.
func readProgram(id uint32) (progs.Node, *ebpf.ProgramInfo, error) {
	prog, err := ebpf.NewProgramFromID(ebpf.ProgramID(id))
	if err != nil {
		return progs.Node{}, nil, fmt.Errorf("open program %d: %w", id, err)
	}
	defer prog.Close()
	info, err := prog.Info()
	if err != nil {
		return progs.Node{}, nil, fmt.Errorf("read program %d info: %w", id, err)
	}
	return progs.Node{ID: id, Name: fullName(info), Tag: info.Tag, Type: info.Type.String()}, info, nil
}

// fullName is the BTF name of the program's main function, which is not
// cut to 15 characters as the kernel's program name is.
func fullName(info *ebpf.ProgramInfo) string {
	funcs, err := info.FuncInfos()
	if err == nil {
		for _, f := range funcs {
			if f.Offset == 0 && f.Func != nil && f.Func.Name != "" {
				return f.Func.Name
			}
		}
	}
	return info.Name
}

// arrayContents is one prog_array with all its filled slots.
type arrayContents struct {
	progs.ProgArray
	filled map[uint32]uint32 // slot → program ID
}

// progArrays returns every prog_array among mapIDs.
func (w *walker) progArrays(mapIDs []ebpf.MapID) ([]arrayContents, error) {
	var arrays []arrayContents
	for _, id := range mapIDs {
		a, seen := w.arrays[uint32(id)]
		if !seen {
			c, ok, err := readProgArray(uint32(id))
			c.Name = w.pins.name(c.ID, c.Name)
			if err != nil {
				return nil, err
			}
			if ok {
				a = &c
			}
			w.arrays[uint32(id)] = a
		}
		if a != nil {
			arrays = append(arrays, *a)
		}
	}
	return arrays, nil
}

// readProgArray reads a map's slots if it is a prog_array. The fd is held
// only while reading; the map's owner keeps its own references.
func readProgArray(id uint32) (arrayContents, bool, error) {
	m, err := ebpf.NewMapFromID(ebpf.MapID(id))
	if err != nil {
		return arrayContents{}, false, fmt.Errorf("open map %d: %w", id, err)
	}
	defer m.Close()
	info, err := m.Info()
	if err != nil {
		return arrayContents{}, false, fmt.Errorf("read map %d info: %w", id, err)
	}
	if info.Type != ebpf.ProgramArray {
		return arrayContents{}, false, nil
	}
	a := arrayContents{
		ProgArray: progs.ProgArray{ID: id, Name: info.Name, MaxEntries: info.MaxEntries},
		filled:    map[uint32]uint32{},
	}
	for i := uint32(0); i < info.MaxEntries; i++ {
		var progID uint32
		err := m.Lookup(i, &progID)
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			continue
		}
		if err != nil {
			return arrayContents{}, false, fmt.Errorf("look up map %d slot %d: %w", id, i, err)
		}
		a.filled[i] = progID
	}
	return a, true, nil
}

// reachedArrays turns what a program's tail calls name into ProgArrays:
// exact slots for constant indices, every filled slot otherwise.
func reachedArrays(arrays []arrayContents, cs callSites) []progs.ProgArray {
	order := cs.order
	if cs.anyMap {
		for _, a := range arrays {
			if !slices.Contains(order, a.ID) {
				order = append(order, a.ID)
			}
		}
	}
	var out []progs.ProgArray
	for _, id := range order {
		i := slices.IndexFunc(arrays, func(a arrayContents) bool { return a.ID == id })
		if i < 0 {
			continue // not a prog_array (or gone): nothing to jump to
		}
		a := arrays[i]
		pa := a.ProgArray
		indices := slices.Clone(cs.slots[id])
		if cs.anyMap || cs.dynamic[id] {
			pa.Dynamic = true
			for idx := range a.filled {
				if !slices.Contains(indices, idx) {
					indices = append(indices, idx)
				}
			}
		}
		slices.Sort(indices)
		for _, idx := range indices {
			if progID, ok := a.filled[idx]; ok {
				pa.Slots = append(pa.Slots, progs.Slot{Index: idx, Prog: &progs.Node{ID: progID}})
			} else {
				pa.Slots = append(pa.Slots, progs.Slot{Index: idx, Empty: true})
			}
		}
		out = append(out, pa)
	}
	return out
}

// unreached lists the filled slots of every prog_array the walk read whose
// programs it never reached, by map and slot.
func (w *walker) unreached() []progs.UnreachedSlot {
	var out []progs.UnreachedSlot
	for _, a := range w.arrays {
		if a == nil {
			continue
		}
		for slot, id := range a.filled {
			if w.expanded[id] {
				continue
			}
			n, _, err := readProgram(id)
			if err != nil {
				n = progs.Node{ID: id, Error: err.Error()}
			}
			out = append(out, progs.UnreachedSlot{Map: a.Name, MapID: a.ID, Slot: slot, Prog: n})
		}
	}
	slices.SortFunc(out, func(x, y progs.UnreachedSlot) int {
		if x.MapID != y.MapID {
			return int(x.MapID) - int(y.MapID)
		}
		return int(x.Slot) - int(y.Slot)
	})
	return out
}
