package render

import "github.com/pktlife/pktlife/trace/journey"

// natsAt lists the NATs to show at hop h: those its programs made (ByHop),
// then, unless shown at the hop that made it, the hop's own NATFrom, named
// by the journey's NAT list when it has an entry for it, and any entry of
// that list for this hop that the hop itself does not record.
func natsAt(j *journey.Journey, h *journey.Hop) []journey.NAT {
	return appendNATsAt(nil, j, h)
}

// appendNATsAt appends natsAt(j, h) to out. The journey's list is read in
// place; an entry is copied only when it is shown.
func appendNATsAt(out []journey.NAT, j *journey.Journey, h *journey.Hop) []journey.NAT {
	if h.NATFrom == nil && !natAt(j, h.Index) {
		return out
	}
	for i := range j.NAT {
		if jn := &j.NAT[i]; jn.ByHop == h.Index {
			out = append(out, *jn)
			out[len(out)-1].Kind = sanitize(jn.Kind)
		}
	}
	if h.NATFrom != nil && !natDoneBefore(j, h) {
		n := journey.NAT{Hop: h.Index, Old: *h.NATFrom, New: h.Tuple, Kind: natKind(*h.NATFrom, h.Tuple)}
		for i := range j.NAT {
			if jn := &j.NAT[i]; jn.Hop == h.Index && jn.New.Flow() == h.Tuple.Flow() && jn.Kind != "" {
				n.Kind = sanitize(jn.Kind)
			}
		}
		out = append(out, n)
	}
	return appendListedNATs(out, j, h)
}

// appendListedNATs appends the entries of the journey's NAT list for hop
// h that the hop itself does not record.
func appendListedNATs(out []journey.NAT, j *journey.Journey, h *journey.Hop) []journey.NAT {
	for i := range j.NAT {
		jn := &j.NAT[i]
		if jn.Hop != h.Index || jn.ByHop != 0 || (h.NATFrom != nil && jn.New.Flow() == h.Tuple.Flow()) {
			continue
		}
		out = append(out, *jn)
		n := &out[len(out)-1]
		if n.Kind == "" {
			n.Kind = natKind(n.Old, n.New)
		}
		n.Kind = sanitize(n.Kind)
	}
	return out
}

// natAt reports whether the journey's NAT list names hop index, as the hop
// of a NAT or the hop whose programs made it.
func natAt(j *journey.Journey, index int) bool {
	for i := range j.NAT {
		if j.NAT[i].Hop == index || j.NAT[i].ByHop == index {
			return true
		}
	}
	return false
}

// natDoneBefore reports whether the change hop h first saw is shown at the
// earlier tc hop that made it.
func natDoneBefore(j *journey.Journey, h *journey.Hop) bool {
	for _, jn := range j.NAT {
		if jn.Hop == h.Index && jn.ByHop != 0 && jn.New.Flow() == h.Tuple.Flow() {
			return true
		}
	}
	return false
}

// natTexts are the NATs to show at hop h (natsAt) as plain lines, each
// with the program that made it, or "(inferred)" when only the hop whose
// programs made it is known: for the pcapng comments and the HTML page.
func natTexts(j *journey.Journey, h *journey.Hop) []string {
	if len(j.NAT) == 0 && h.NATFrom == nil {
		return nil
	}
	var out []string
	for _, n := range natsAt(j, h) {
		s := plainLine(natLine(n.Kind, n.Old, n.New))
		if n.Prog != "" {
			s += " by " + sanitize(n.Prog)
		} else if n.ByHop != 0 {
			s += " (inferred)"
		}
		out = append(out, s)
	}
	return out
}
