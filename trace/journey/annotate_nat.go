package journey

// natChanges lists the journey's tuple changes (Journey.NAT) from the hops
// where the correlator saw the tuple change (Hop.NATFrom).
type natChanges struct{}

func (natChanges) Annotate(j *Journey) {
	n := 0
	for i := range j.Hops {
		if j.Hops[i].NATFrom != nil {
			n++
		}
	}
	j.NAT = nil
	if n == 0 {
		return
	}
	j.NAT = getNATs(n)
	for i := range j.Hops {
		h := &j.Hops[i]
		if h.NATFrom == nil {
			continue
		}
		j.NAT = append(j.NAT, NAT{Hop: h.Index, Old: h.NATFrom.Flow(), New: h.Tuple.Flow(), Kind: NATKind(*h.NATFrom, h.Tuple)})
	}
}

// NATKind says which side of the tuple a change rewrote: "dnat" (the
// destination only), "snat" (the source only) or "nat" (both, or neither:
// the protocol). It is the one answer; render uses it too.
func NATKind(old, new Tuple) string {
	s, d := old.Src != new.Src, old.Dst != new.Dst
	switch {
	case s && !d:
		return "snat"
	case d && !s:
		return "dnat"
	}
	return "nat"
}
