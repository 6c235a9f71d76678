package render

import (
	"strconv"

	"github.com/pktlife/pktlife/trace/journey"
)

// Writing one hop of the table: its row and the lines under it.

// tupleState follows which tuple the rendered output last showed, so that
// a change is shown once, where it happened.
type tupleState struct{ cur journey.Tuple }

func (t *Text) row(o *writer, j *journey.Journey, r *hopRow, c columns, st *tupleState) {
	o.b = t.rowLine(o, o.b, r, c)
	h := r.h
	room := t.width - c.sub()
	subline := func(l line) {
		o.spaces(c.sub())
		o.line(l.truncate(room))
		o.newline()
	}
	if r.detW > c.detail {
		subline(r.detail)
	}
	// Lines written at once are built in one reused buffer.
	l := t.scratch[:0]
	if len(h.Progs) > 0 {
		l.add("progs ", sDim)
		for i, p := range h.Progs {
			if i > 0 {
				l.add(", ", sDim)
			}
			l.add(t.progLabel(p), sProg)
		}
		subline(l)
	}
	if len(h.TailCalls) > 0 {
		l = t.tailCallLines(l, h, subline)
	}
	madeHere := false // a NAT this hop's programs made: its tuple is the one before
	if len(j.NAT) > 0 || h.NATFrom != nil {
		l, madeHere = t.natLines(l, j, h, st, subline)
	}
	if h.Tuple.Valid() && h.Tuple.Flow() != st.cur.Flow() && !madeHere {
		l = l[:0]
		l.add("tuple ", sDim)
		l.addTuple(h.Tuple, nil)
		subline(l)
	}
	clear(l)
	t.scratch = l[:0]
	if h.Tuple.Valid() && !madeHere {
		st.cur = h.Tuple
	}
	if t.o.Verbose {
		subline(verboseLine(h))
	}
}

// rowLine appends the hop's row to b: number, times, place, hook and the
// detail when it fits. The row is built in b, not in o.b (see writer).
func (t *Text) rowLine(o *writer, b []byte, r *hopRow, c columns) []byte {
	num := strconv.Itoa(r.h.Index)
	b = appendSpaces(b, indent)
	b = o.appendRText(b, num, len(num), sBold, c.num)
	b = appendSpaces(b, gap)
	b = o.appendRText(b, t.hopTimes[r.atStart:r.atEnd], r.atW, sPlain, c.at)
	b = appendSpaces(b, gap)
	delta := "—"
	if r.deltaEnd > r.atEnd {
		delta = t.hopTimes[r.atEnd:r.deltaEnd]
	}
	b = o.appendRText(b, delta, r.deltaW, pick(r.slow, sSlow, sDim), c.delta)
	b = appendSpaces(b, gap)
	if r.dev.netnsW <= c.netns {
		b = o.appendText(b, r.dev.netns, r.dev.netnsW, sNetns, c.netns)
	} else {
		b = o.appendCell(b, line{{r.dev.netnsIn(c.netns), sNetns}}, c.netns)
	}
	b = appendSpaces(b, gap)
	if r.dev.deviceW <= c.device {
		b = o.appendText(b, r.dev.device, r.dev.deviceW, sDevice, c.device)
	} else {
		b = o.appendCell(b, line{{r.dev.deviceIn(c.device), sDevice}}, c.device)
	}
	b = appendSpaces(b, gap)
	b = o.appendText(b, r.hook, r.hookW, r.hookSt, c.hook)
	if r.detW <= c.detail && len(r.detail) > 0 {
		b = appendSpaces(b, gap)
		b = o.appendLine(b, r.detail)
	}
	return appendNewline(b)
}

// natLines writes the NATs shown at hop h, built in l, and reports whether
// the hop's own programs made one.
func (t *Text) natLines(l line, j *journey.Journey, h *journey.Hop, st *tupleState, emit func(line)) (line, bool) {
	madeHere := false
	nats := appendNATsAt(t.nats[:0], j, h)
	for _, n := range nats {
		madeHere = madeHere || n.ByHop == h.Index
		l = appendNATLine(l[:0], n.Kind, n.Old, n.New)
		if n.Prog != "" {
			l.add("  by "+sanitize(n.Prog), sProg)
		} else if n.ByHop != 0 {
			l.add("  (inferred)", sDim)
		}
		emit(l)
		st.cur = n.New
	}
	clear(nats)
	t.nats = nats[:0]
	return l, madeHere
}

// verboseLine is the skb, cpu, len and mark of a hop.
func verboseLine(h *journey.Hop) line {
	var l line
	l.add("skb "+h.Skb.String()+"  cpu "+strconv.FormatUint(uint64(h.CPU), 10)+
		"  len "+strconv.FormatUint(uint64(h.Len), 10)+
		"  mark "+hex(uint64(h.Mark)), sDim)
	return l
}

// hopDetail is the short text after the hook: verdict, drop reason, return
// value, and which skb when it is a clone.
func (t *Text) hopDetail(l line, j *journey.Journey, h *journey.Hop) line {
	sep := func() {
		if len(l) > 0 {
			l.add("  ", sPlain)
		}
	}
	if h.Verdict != "" {
		l.add(sanitize(h.Verdict), verdictStyle(h.Verdict))
		if h.VerdictInferred && h.VerdictFrom() != "" {
			l.add(t.inferredFrom(h.VerdictFrom()), sDim)
		} else if h.VerdictInferred {
			l.add(" (inferred)", sDim)
		}
	}
	if h.DropReason != "" {
		sep()
		l.add("drop ", sDim)
		l.add(reasonName(h.DropReason), sBad)
	}
	if h.Ret != nil {
		sep()
		l.add(retLabel(*h.Ret), pick(*h.Ret < 0, sBad, sPlain))
	}
	if h.Skb != 0 && h.Skb != j.Skb {
		sep()
		l.add(cloneLabel(j, h.Skb), sInfo)
	}
	return l
}

// retNames are the labels of the return values -16 to 15, made once.
var retNames = func() (a [32]string) {
	for i := range a {
		a[i] = "ret " + strconv.Itoa(i-16)
	}
	return a
}()

// retLabel is "ret " and v.
func retLabel(v int64) string {
	if v >= -16 && v < 16 {
		return retNames[v+16]
	}
	return "ret " + strconv.FormatInt(v, 10)
}

// cloneNames are the labels of the first clones, made once.
var cloneNames = func() (a [32]string) {
	for i := range a {
		a[i] = "clone " + strconv.Itoa(i+1)
	}
	return a
}()

// cloneLabel names the skb of a hop that is not the journey's own.
func cloneLabel(j *journey.Journey, skb journey.Ptr) string {
	for i, c := range j.Clones {
		if c == skb && i < len(cloneNames) {
			return cloneNames[i]
		}
		if c == skb {
			return "clone " + strconv.Itoa(i+1)
		}
	}
	return "skb " + skb.String()
}

// tailCallLines lists a hop's tail calls, one line each, with the time
// since the previous step of the chain:
//
//	↳ [demo_calls/0] demo_nat (id 80)      +0.4µs
//	↳ [demo_calls/2] (empty: fell through)
//
// Each line is built in buf and handed to emit; tailCallLines returns buf
// for reuse.
func (t *Text) tailCallLines(buf line, h *journey.Hop, emit func(line)) line {
	w := 0
	for _, tc := range h.TailCalls {
		w = max(w, t.tailCallTarget(tc).w+textWidth(t.tailCallProg(tc)))
	}
	prev := h.At
	for _, tc := range h.TailCalls {
		l := buf[:0]
		l.add("↳ ", sDim)
		target := t.tailCallTarget(tc)
		l.add(target.s, sDim)
		prog := t.tailCallProg(tc)
		l.add(prog, pick(tc.Missed, sWarn, sProg))
		pad := w - target.w - textWidth(prog)
		switch {
		case tc.Inferred:
			l.add(spaces(pad+2), sDim)
			l.add("(inferred)", sDim)
		case !tc.Missed:
			l.add(spaces(pad+2), sPlain)
			l.add(fmtDelta(tc.At-prev), sPlain)
			prev = tc.At
		}
		if tc.Reason != "" {
			l.add("  "+sanitize(tc.Reason), sBad)
		}
		emit(l)
		buf = l
	}
	return buf
}

func (t *Text) tailCallProg(tc journey.TailCall) string {
	if tc.Missed {
		return "(empty: fell through)"
	}
	return t.progLabel(tc.Prog)
}

func spaces(n int) string {
	const s = "                                                                "
	if n <= 0 {
		return ""
	}
	if n > len(s) {
		n = len(s)
	}
	return s[:n]
}
