package progs

import (
	"cmp"
	"slices"
)

// Attachment kinds of an Entry.
const (
	ViaTCX = "tcx" // a tcx link (bpf_mprog)
	ViaTC  = "tc"  // a cls_bpf filter on a clsact (or ingress) qdisc
)

// Directions of a tc hook.
const (
	Ingress = "ingress"
	Egress  = "egress"
)

// Graph is every tc program found and the tail-call graph behind each.
// Programs are expanded once, in depth-first order over devices, ingress
// before egress; a program met again is a Ref node that is not expanded.
type Graph struct {
	Devices []DeviceProgs `json:"devices"`
	// Unreached lists the filled slots of the graph's prog_arrays whose
	// programs no attached program reaches: loaded and ready, but no chain
	// leads there (a datapath's other direction, a feature switched off).
	Unreached []UnreachedSlot `json:"unreached,omitempty"`
}

// UnreachedSlot is a filled prog_array slot outside every chain.
type UnreachedSlot struct {
	Map   string `json:"map"`
	MapID uint32 `json:"map_id"`
	Slot  uint32 `json:"slot"`
	Prog  Node   `json:"prog"`
}

// DeviceProgs is what runs at one device's tc hooks, in execution order:
// tcx programs first, then legacy tc filters by priority.
type DeviceProgs struct {
	Netns     uint32  `json:"netns"`                // namespace inode
	NetnsName string  `json:"netns_name,omitempty"` // a /run/netns name, "host", or the path given
	Ifindex   uint32  `json:"ifindex"`
	Name      string  `json:"name"`
	Ingress   []Entry `json:"ingress"`
	Egress    []Entry `json:"egress"`
	// Revisions of the tcx chains when queried; they change whenever a
	// program is attached or detached. Zero without tcx.
	IngressRevision uint64 `json:"ingress_revision,omitempty"`
	EgressRevision  uint64 `json:"egress_revision,omitempty"`
}

// Entry is one program attached at a tc hook.
type Entry struct {
	Via    string `json:"via"`               // ViaTCX or ViaTC
	LinkID uint32 `json:"link_id,omitempty"` // tcx link, when attached by a link
	Prio   uint32 `json:"prio,omitempty"`    // tc filter priority
	Handle uint32 `json:"handle,omitempty"`  // tc filter handle
	Prog   Node   `json:"prog"`
}

// Node is a program in the graph.
type Node struct {
	ID   uint32 `json:"id"`
	Name string `json:"name"` // full name from BTF; the kernel's 15-character name without BTF
	Tag  string `json:"tag,omitempty"`
	Type string `json:"type,omitempty"`
	// Maps are the prog_arrays this program tail-calls into, in the order
	// of their first tail call in the program.
	Maps []ProgArray `json:"maps,omitempty"`
	// Ref marks a program already expanded earlier in the graph; its Maps
	// are not repeated here.
	Ref bool `json:"ref,omitempty"`
	// Error says why the program could not be read (it went away while
	// walking, say); the node then carries only its ID.
	Error string `json:"error,omitempty"`
}

// ProgArray is a BPF_MAP_TYPE_PROG_ARRAY as seen from one program.
type ProgArray struct {
	ID         uint32 `json:"id"`
	Name       string `json:"name"`
	MaxEntries uint32 `json:"max_entries"`
	// Dynamic is set when the program indexes the map with a value known
	// only at run time: Slots then lists every filled slot. Otherwise Slots
	// lists exactly the slots the program names, empty ones included.
	Dynamic bool   `json:"dynamic,omitempty"`
	Slots   []Slot `json:"slots"`
}

// Slot is one index of a ProgArray.
type Slot struct {
	Index uint32 `json:"index"`
	Empty bool   `json:"empty,omitempty"` // a tail call here falls through
	Prog  *Node  `json:"prog,omitempty"`
}

// EntryPoint is one Entry with the place it is attached at.
type EntryPoint struct {
	Device    *DeviceProgs
	Direction string // Ingress or Egress
	Entry     *Entry
}

// EntryPrograms lists every attached program in graph order.
func (g *Graph) EntryPrograms() []EntryPoint {
	var eps []EntryPoint
	for i := range g.Devices {
		d := &g.Devices[i]
		for j := range d.Ingress {
			eps = append(eps, EntryPoint{Device: d, Direction: Ingress, Entry: &d.Ingress[j]})
		}
		for j := range d.Egress {
			eps = append(eps, EntryPoint{Device: d, Direction: Egress, Entry: &d.Egress[j]})
		}
	}
	return eps
}

// Programs returns the expanded (non-Ref) node of every program in the
// graph, keyed by ID.
func (g *Graph) Programs() map[uint32]*Node {
	nodes := make(map[uint32]*Node)
	var visit func(n *Node)
	visit = func(n *Node) {
		if n.Ref {
			return
		}
		if _, ok := nodes[n.ID]; !ok {
			nodes[n.ID] = n
		}
		for i := range n.Maps {
			for j := range n.Maps[i].Slots {
				if p := n.Maps[i].Slots[j].Prog; p != nil {
					visit(p)
				}
			}
		}
	}
	for _, ep := range g.EntryPrograms() {
		visit(&ep.Entry.Prog)
	}
	return nodes
}

// SlotRef names one prog_array slot some program in the graph can reach.
type SlotRef struct {
	MapID   uint32
	MapName string
	Index   uint32
	ProgID  uint32 // 0 for an empty slot
}

// ReachableSlots lists every (map, slot) pair a tail call in the graph can
// land on, once each, ordered by map ID and index.
func (g *Graph) ReachableSlots() []SlotRef {
	type key struct{ m, i uint32 }
	seen := make(map[key]bool)
	var refs []SlotRef
	for _, n := range g.Programs() {
		for _, m := range n.Maps {
			for _, s := range m.Slots {
				if seen[key{m.ID, s.Index}] {
					continue
				}
				seen[key{m.ID, s.Index}] = true
				r := SlotRef{MapID: m.ID, MapName: m.Name, Index: s.Index}
				if s.Prog != nil {
					r.ProgID = s.Prog.ID
				}
				refs = append(refs, r)
			}
		}
	}
	slices.SortFunc(refs, func(a, b SlotRef) int {
		return cmp.Or(cmp.Compare(a.MapID, b.MapID), cmp.Compare(a.Index, b.Index))
	})
	return refs
}

// MaxTailCalls is the kernel's limit of tail calls per packet
// (MAX_TAIL_CALL_CNT).
const MaxTailCalls = 33

// MaxDepth is the number of tail calls on the longest chain from any entry
// program. cyclic is set when a chain can return to a program already on
// it: a packet may then loop up to the kernel's MaxTailCalls, and depth
// only counts the longest chain that repeats no program. Depths beyond
// MaxTailCalls are not explored; a graph too tangled to explore reports
// MaxTailCalls and cyclic.
func (g *Graph) MaxDepth() (depth int, cyclic bool) {
	w := newDepthWalk(g)
	for _, ep := range g.EntryPrograms() {
		d, c := w.depth(ep.Entry.Prog.ID)
		depth = max(depth, d)
		cyclic = cyclic || c
	}
	return w.result(depth, cyclic)
}

// ChainDepth is MaxDepth for the chains starting at one program.
func (g *Graph) ChainDepth(progID uint32) (depth int, cyclic bool) {
	w := newDepthWalk(g)
	return w.result(w.depth(progID))
}

// depthBudget bounds the programs visited when cycles defeat memoisation.
const depthBudget = 200_000

type depthWalk struct {
	nodes  map[uint32]*Node
	onPath map[uint32]bool
	// memo holds depths of programs from which no cycle is reachable: those
	// do not depend on the path they were reached by.
	memo      map[uint32]int
	steps     int
	exhausted bool
}

func newDepthWalk(g *Graph) *depthWalk {
	return &depthWalk{nodes: g.Programs(), onPath: map[uint32]bool{}, memo: map[uint32]int{}}
}

func (w *depthWalk) result(depth int, cyclic bool) (int, bool) {
	if w.exhausted {
		return MaxTailCalls, true
	}
	return min(depth, MaxTailCalls), cyclic
}

func (w *depthWalk) depth(id uint32) (int, bool) {
	if d, ok := w.memo[id]; ok {
		return d, false
	}
	n, ok := w.nodes[id]
	if !ok {
		return 0, false
	}
	if w.steps++; w.steps > depthBudget {
		w.exhausted = true
		return 0, true
	}
	w.onPath[id] = true
	defer delete(w.onPath, id)
	depth, cyclic := 0, false
	for _, m := range n.Maps {
		for _, s := range m.Slots {
			if s.Prog == nil {
				continue
			}
			if w.onPath[s.Prog.ID] {
				cyclic = true
				continue
			}
			if depth >= MaxTailCalls || w.exhausted {
				continue
			}
			d, c := w.depth(s.Prog.ID)
			depth = max(depth, d+1)
			cyclic = cyclic || c
		}
	}
	if !cyclic {
		w.memo[id] = depth
	}
	return depth, cyclic
}
