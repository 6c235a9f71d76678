package progs

import (
	"reflect"
	"testing"
)

// edges builds a graph of one entry (program 1) from an adjacency list;
// each program's successors sit in one prog_array (ID 100+program) at
// slots 0, 1, …; programs after the first occurrence are Refs, as discover.Graph
// makes them.
func edges(adj map[uint32][]uint32, entries ...uint32) *Graph {
	expanded := map[uint32]bool{}
	var build func(id uint32) Node
	build = func(id uint32) Node {
		if expanded[id] {
			return Node{ID: id, Ref: true}
		}
		expanded[id] = true
		n := Node{ID: id}
		if succ := adj[id]; len(succ) > 0 {
			pa := ProgArray{ID: 100 + id, MaxEntries: uint32(len(succ))}
			for i, s := range succ {
				child := build(s)
				pa.Slots = append(pa.Slots, Slot{Index: uint32(i), Prog: &child})
			}
			n.Maps = []ProgArray{pa}
		}
		return n
	}
	d := DeviceProgs{Name: "dev0"}
	for _, e := range entries {
		d.Ingress = append(d.Ingress, Entry{Via: ViaTCX, Prog: build(e)})
	}
	return &Graph{Devices: []DeviceProgs{d}}
}

func TestMaxDepth(t *testing.T) {
	for _, tc := range []struct {
		name   string
		adj    map[uint32][]uint32
		depth  int
		cyclic bool
	}{
		{"single", nil, 0, false},
		{"chain", map[uint32][]uint32{1: {2}, 2: {3}, 3: {4}}, 3, false},
		// 1→2→4→5 and 1→3→4: the longer way through the shared 4 counts,
		// whichever path expanded it.
		{"diamond", map[uint32][]uint32{1: {3, 2}, 3: {4}, 2: {6}, 6: {4}, 4: {5}}, 4, false},
		{"self loop", map[uint32][]uint32{1: {2}, 2: {2, 3}}, 2, true},
		{"cycle back to entry", map[uint32][]uint32{1: {2}, 2: {3}, 3: {1}}, 2, true},
		// 2 is memoised from 1's first branch; 3 reaches the cycle 4⇄5.
		{"cycle below shared", map[uint32][]uint32{1: {2, 3}, 3: {2, 4}, 4: {5}, 5: {4}}, 3, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := edges(tc.adj, 1)
			if d, c := g.MaxDepth(); d != tc.depth || c != tc.cyclic {
				t.Errorf("MaxDepth = %d, %v; want %d, %v", d, c, tc.depth, tc.cyclic)
			}
		})
	}
}

func TestMaxDepthBounded(t *testing.T) {
	// Every one of 40 programs can jump to every other: no path is longer
	// than the kernel allows, and exploring must stop.
	adj := map[uint32][]uint32{}
	for i := uint32(1); i <= 40; i++ {
		for j := uint32(1); j <= 40; j++ {
			if i != j {
				adj[i] = append(adj[i], j)
			}
		}
	}
	if d, c := edges(adj, 1).MaxDepth(); d != MaxTailCalls || !c {
		t.Errorf("MaxDepth = %d, %v; want %d, true", d, c, MaxTailCalls)
	}
	// 12 layers of 3, each program reaching all of the next layer and all
	// of its own: cycles everywhere, 3^12 simple paths, depth 2 per layer
	// plus one per step, capped.
	adj = map[uint32][]uint32{}
	for l := uint32(0); l < 12; l++ {
		for a := uint32(0); a < 3; a++ {
			id := 2 + l*3 + a
			for b := uint32(0); b < 3; b++ {
				if b != a {
					adj[id] = append(adj[id], 2+l*3+b)
				}
				if l < 11 {
					adj[id] = append(adj[id], 2+(l+1)*3+b)
				}
			}
		}
	}
	adj[1] = []uint32{2}
	if d, c := edges(adj, 1).MaxDepth(); d != MaxTailCalls || !c {
		t.Errorf("layered: MaxDepth = %d, %v; want %d, true", d, c, MaxTailCalls)
	}
}

func TestGraphIndexes(t *testing.T) {
	g := edges(map[uint32][]uint32{1: {2, 3}, 2: {3}, 7: {2}}, 1, 7)
	g.Devices[0].Egress = []Entry{{Via: ViaTC, Prio: 1, Prog: Node{ID: 9}}}
	var got []uint32
	for _, ep := range g.EntryPrograms() {
		got = append(got, ep.Entry.Prog.ID)
		if ep.Device != &g.Devices[0] {
			t.Error("EntryPoint.Device does not point into the graph")
		}
	}
	if !reflect.DeepEqual(got, []uint32{1, 7, 9}) {
		t.Errorf("EntryPrograms IDs = %v", got)
	}
	if dirs := []string{g.EntryPrograms()[0].Direction, g.EntryPrograms()[2].Direction}; dirs[0] != Ingress || dirs[1] != Egress {
		t.Errorf("directions = %v", dirs)
	}
	progs := g.Programs()
	if len(progs) != 5 || progs[3].Ref || progs[2].Ref {
		t.Errorf("Programs = %v", progs)
	}
	want := []SlotRef{
		{MapID: 101, Index: 0, ProgID: 2}, {MapID: 101, Index: 1, ProgID: 3},
		{MapID: 102, Index: 0, ProgID: 3}, {MapID: 107, Index: 0, ProgID: 2},
	}
	if s := g.ReachableSlots(); !reflect.DeepEqual(s, want) {
		t.Errorf("ReachableSlots = %+v", s)
	}
	if d, c := g.ChainDepth(7); d != 2 || c {
		t.Errorf("ChainDepth(7) = %d, %v; want 2, false", d, c)
	}
}
