package journey

// natByProgram attributes each tuple change to the tc hop whose programs
// made it: the last tc hop with programs before the hop that first saw the
// new tuple, provided that hop still saw the old one. Where the
// interposed shims recorded the tuple at each jump, the program is the one
// that ran before the first jump showing the new tuple; otherwise the
// attribution is to the hop only, and inferred (the chain's last program,
// or the kernel after it, made the change).
type natByProgram struct{}

func (natByProgram) Annotate(j *Journey) {
	for i := range j.NAT {
		n := &j.NAT[i]
		seen := n.Hop - 1
		if seen <= 0 || seen >= len(j.Hops) {
			continue
		}
		t := lastProgHop(j, seen)
		if t < 0 || j.Hops[t].Tuple.Flow() != n.Old {
			continue
		}
		h := &j.Hops[t]
		n.ByHop = h.Index
		n.Prog, n.Inferred = changedBy(h, n.New), true
		if n.Prog != "" {
			n.Inferred = false
		}
	}
}

// lastProgHop is the index of the last tc hop with programs before hop
// seen, on the same skb, or -1.
func lastProgHop(j *Journey, seen int) int {
	for k := seen - 1; k >= 0; k-- {
		h := &j.Hops[k]
		if h.Hook.IsTC() && (len(h.Progs) > 0 || len(h.TailCalls) > 0) {
			return k
		}
	}
	return -1
}

// changedBy names the program after which the shims first saw the tuple
// become new: the hook's program for the first jump, the previous jump's
// target after that. "" when no jump showed it.
func changedBy(h *Hop, new Tuple) string {
	prev, by := h.Tuple.Flow(), ""
	if len(h.Progs) > 0 {
		by = h.Progs[0].Name
	}
	for _, tc := range h.TailCalls {
		if tc.Missed || !tc.Tuple.Valid() {
			continue
		}
		cur := tc.Tuple.Flow()
		if cur != prev && cur == new {
			return by
		}
		prev, by = cur, tc.Prog.Name
	}
	return ""
}
