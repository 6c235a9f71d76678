package render

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"

	"github.com/pktlife/pktlife/trace/progs"
)

// WriteProgsTree writes a tc program graph as a tree: device → direction →
// attached program → [map/slot] → program → …
//
//	tcx0 (if 3) · netns blue
//	├─ ingress
//	│  └─ tcx from_pod (id 12)
//	│     ├─ [calls/0] nat (id 13)
//	│     │  └─ [calls/2] ↺ policy (id 14, see above)
//	│     └─ [calls/1] (empty)
//	└─ egress (none)
//
// A program met a second time is not expanded again. Slots of a prog_array
// indexed at run time are the map's filled slots, marked "run-time index".
// A last line counts programs and gives the deepest tail-call chain;
// Verbose adds tags, tcx links and revisions, tc handles, namespace inodes
// and a list of the prog_arrays with their IDs.
func WriteProgsTree(w io.Writer, g *progs.Graph, o Options) error {
	t := progsTree{o: o, width: o.width()}
	if o.Color {
		t.out.pal = newPalette()
	}
	if len(g.Devices) == 0 {
		t.emit(line{{"no tc programs found", sDim}})
	}
	for i := range g.Devices {
		if i > 0 {
			t.out.newline()
		}
		t.device(&g.Devices[i])
	}
	if len(g.Devices) > 0 {
		t.out.newline()
		t.emit(progsSummary(g))
		t.unreached(g)
		if o.Verbose {
			t.arrays(g)
		}
	}
	if _, err := w.Write(t.out.b); err != nil {
		return fmt.Errorf("write program tree: %w", err)
	}
	return nil
}

// WriteProgsJSON writes the graph as one JSON object and a newline.
func WriteProgsJSON(w io.Writer, g *progs.Graph) error {
	b, err := json.Marshal(g)
	if err != nil {
		return fmt.Errorf("encode program graph: %w", err)
	}
	if _, err := w.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("write program graph: %w", err)
	}
	return nil
}

type progsTree struct {
	o     Options
	width int
	out   writer
}

// emit writes one line behind the tree's indentation.
func (t *progsTree) emit(l line) {
	t.out.line(l.truncate(t.width))
	t.out.newline()
}

// branch is prefix plus the connector for a child, and the prefix its
// own children get.
func treeBranch(prefix string, last bool) (connector, childPrefix string) {
	if last {
		return prefix + "└─ ", prefix + "   "
	}
	return prefix + "├─ ", prefix + "│  "
}

func (t *progsTree) device(d *progs.DeviceProgs) {
	var l line
	l.add(sanitize(d.Name), sDevice)
	l.add(" (if "+strconv.FormatUint(uint64(d.Ifindex), 10)+")", sDim)
	l.add(" · netns ", sDim)
	ns := sanitize(d.NetnsName)
	if ns == "" {
		ns = strconv.FormatUint(uint64(d.Netns), 10)
	} else if t.o.Verbose {
		ns += " (" + strconv.FormatUint(uint64(d.Netns), 10) + ")"
	}
	l.add(ns, sNetns)
	t.emit(l)
	t.direction(progs.Ingress, d.Ingress, d.IngressRevision, false)
	t.direction(progs.Egress, d.Egress, d.EgressRevision, true)
}

func (t *progsTree) direction(name string, entries []progs.Entry, rev uint64, last bool) {
	conn, prefix := treeBranch("", last)
	l := line{{conn, sDim}, {name, sTC}}
	if len(entries) == 0 {
		l.add(" (none)", sDim)
	}
	if t.o.Verbose && rev != 0 && slices.ContainsFunc(entries, func(e progs.Entry) bool { return e.Via == progs.ViaTCX }) {
		l.add(" · tcx revision "+strconv.FormatUint(rev, 10), sDim)
	}
	t.emit(l)
	for i := range entries {
		e := &entries[i]
		conn, child := treeBranch(prefix, i == len(entries)-1)
		l := line{{conn, sDim}}
		switch e.Via {
		case progs.ViaTC:
			l.add("tc prio "+strconv.FormatUint(uint64(e.Prio), 10)+" ", sDim)
		default:
			l.add(sanitize(e.Via)+" ", sDim)
		}
		t.node(l, &e.Prog, child, t.entryDetail(e))
	}
}

func (t *progsTree) entryDetail(e *progs.Entry) string {
	if !t.o.Verbose {
		return ""
	}
	switch {
	case e.Via == progs.ViaTCX && e.LinkID != 0:
		return " · link " + strconv.FormatUint(uint64(e.LinkID), 10)
	case e.Via == progs.ViaTC:
		return " · handle " + hex(uint64(e.Handle))
	}
	return ""
}

// node writes a program after the start of its line l, then its slots.
func (t *progsTree) node(l line, n *progs.Node, prefix, detail string) {
	name := sanitize(n.Name)
	id := "id " + strconv.FormatUint(uint64(n.ID), 10)
	switch {
	case n.Ref:
		l.add("↺ ", sDim)
		l.add(name, sProg)
		l.add(" ("+id+", see above)", sDim)
	case name == "":
		l.add(id, sProg)
	default:
		l.add(name, sProg)
		l.add(" ("+id+")", sDim)
	}
	l.add(detail, sDim)
	if t.o.Verbose && !n.Ref && n.Tag != "" {
		l.add(" · tag "+sanitize(n.Tag), sDim)
	}
	if n.Error != "" {
		l.add(" · "+sanitize(n.Error), sBad)
	}
	t.emit(l)
	if n.Ref {
		return
	}
	var slots []progSlot
	for i := range n.Maps {
		for j := range n.Maps[i].Slots {
			slots = append(slots, progSlot{&n.Maps[i], &n.Maps[i].Slots[j]})
		}
	}
	for i, s := range slots {
		conn, child := treeBranch(prefix, i == len(slots)-1)
		l := line{{conn, sDim}}
		m := sanitize(s.m.Name)
		if m == "" {
			m = "map " + strconv.FormatUint(uint64(s.m.ID), 10)
		}
		l.add("["+m+"/"+strconv.FormatUint(uint64(s.s.Index), 10)+"] ", sDim)
		var note string
		if s.m.Dynamic {
			note = " · run-time index"
		}
		if s.s.Empty || s.s.Prog == nil {
			l.add("(empty)", sWarn)
			l.add(note, sDim)
			t.emit(l)
			continue
		}
		t.node(l, s.s.Prog, child, note)
	}
}

// arrays lists every prog_array of the graph with its ID and size.
func (t *progsTree) arrays(g *progs.Graph) {
	seen := map[uint32]bool{}
	var all []*progs.ProgArray
	for _, ep := range g.EntryPrograms() {
		var visit func(n *progs.Node)
		visit = func(n *progs.Node) {
			for i := range n.Maps {
				m := &n.Maps[i]
				if !seen[m.ID] {
					seen[m.ID] = true
					all = append(all, m)
				}
				for _, s := range m.Slots {
					if s.Prog != nil {
						visit(s.Prog)
					}
				}
			}
		}
		visit(&ep.Entry.Prog)
	}
	for _, m := range all {
		t.emit(line{{"  " + sanitize(m.Name) + ": prog_array id " + strconv.FormatUint(uint64(m.ID), 10) +
			", " + plural(int(m.MaxEntries), "slot", "slots"), sDim}})
	}
}

type progSlot struct {
	m *progs.ProgArray
	s *progs.Slot
}

// progsSummary is "7 programs · 3 prog_arrays · deepest chain 3 tail calls".
func progsSummary(g *progs.Graph) line {
	nprogs := len(g.Programs())
	maps := map[uint32]bool{}
	for _, n := range g.Programs() {
		for _, m := range n.Maps {
			maps[m.ID] = true
		}
	}
	depth, cyclic := g.MaxDepth()
	s := plural(nprogs, "program", "programs") + " · " + plural(len(maps), "prog_array", "prog_arrays") +
		" · deepest chain " + plural(depth, "tail call", "tail calls")
	if cyclic {
		s += ", and a cycle"
	}
	return line{{s, sDim}}
}

// unreached lists the filled slots no attached program reaches.
func (t *progsTree) unreached(g *progs.Graph) {
	if len(g.Unreached) == 0 {
		return
	}
	t.emit(line{{"filled slots no attached program reaches:", sDim}})
	for _, u := range g.Unreached {
		name := u.Map
		if name == "" {
			name = "map " + strconv.FormatUint(uint64(u.MapID), 10)
		}
		t.emit(line{{"  [" + sanitize(name) + "/" + strconv.FormatUint(uint64(u.Slot), 10) + "] ", sDim},
			{sanitize(u.Prog.Name) + " (id " + strconv.FormatUint(uint64(u.Prog.ID), 10) + ")", sProg}})
	}
}
