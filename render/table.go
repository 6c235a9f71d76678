package render

import (
	"strconv"
	"time"

	"github.com/pktlife/pktlife/trace/journey"
)

// Column layout of the hop table. Widths are chosen per journey from its
// content and shrunk, name columns first, when the table would be wider
// than Options.Width; a detail that does not fit its column moves to a line
// of its own under the hop, so nothing is lost on a narrow terminal.
const (
	indent     = 2  // before the hop number
	gap        = 2  // between columns
	minNetns   = 6  // narrowest netns column
	minDevice  = 10 // narrowest device column
	minHook    = 10 // narrowest hook column
	minDetail  = 16 // a detail column narrower than this is not worth it
	keepDetail = 8  // below this the detail column goes away entirely
)

type columns struct {
	num, at, delta, netns, device, hook, detail int
}

// netnsAt is where the netns column starts.
func (c columns) netnsAt() int { return indent + c.num + gap + c.at + gap + c.delta + gap }

// sub is where lines under a hop start: a little right of the netns column,
// so that they read as belonging to the hop above.
func (c columns) sub() int { return c.netnsAt() + 2 }

func (c columns) base() int { return c.netnsAt() + c.netns + gap + c.device + gap + c.hook + gap }

// hopRow is one hop prepared for layout.
type hopRow struct {
	h      *journey.Hop
	at     string
	delta  string
	atW    int
	deltaW int
	dev    *devLabels // the device's full labels; row shortens them if need be
	hook   string
	hookW  int
	hookSt sty
	detail line
	detW   int
	slow   bool
	// where at and delta end in the journey's times string
	atEnd, deltaEnd int
}

// times formats every hop's time and delta into one string, one
// allocation for the journey: rows[i] gets where its two end.
func (t *Text) times(j *journey.Journey, rows []hopRow) string {
	b := t.timeBuf[:0]
	for i := range j.Hops {
		b = appendDur(b, j.Hops[i].At)
		rows[i].atEnd = len(b)
		if i > 0 {
			b = appendDelta(b, j.Hops[i].Delta)
		}
		rows[i].deltaEnd = len(b)
	}
	t.timeBuf = b
	return string(b)
}

func (t *Text) table(j *journey.Journey) {
	if len(j.Hops) == 0 {
		t.out.spaces(indent)
		t.out.span(span{"(no hops)", sDim})
		t.out.newline()
		return
	}
	if cap(t.rows) < len(j.Hops) {
		t.rows = make([]hopRow, len(j.Hops))
	}
	rows := t.rows[:len(j.Hops)]
	defer clear(rows) // hold on to nothing of this journey
	c := columns{
		num: textWidth(strconv.Itoa(j.Hops[len(j.Hops)-1].Index)),
		at:  textWidth("+time"), delta: textWidth("Δ"),
		netns: textWidth("netns"), device: textWidth("device"), hook: textWidth("hook"),
	}
	slowest := slowestHop(j)
	times := t.times(j, rows)
	for i := range j.Hops {
		h := &j.Hops[i]
		r := &rows[i]
		r.h = h
		from := 0
		if i > 0 {
			from = rows[i-1].deltaEnd
		}
		r.at = times[from:r.atEnd]
		r.delta = "—"
		if i > 0 {
			r.delta = times[r.atEnd:r.deltaEnd]
		}
		r.slow = i == slowest
		r.dev = t.devLabels(h.Device)
		r.hook, r.hookSt = hookLabel(h)
		r.detail = hopDetail(t.spansFor(maxDetailSpans), j, h)
		r.atW, r.deltaW, r.hookW = textWidth(r.at), textWidth(r.delta), textWidth(r.hook)
		c.num = max(c.num, textWidth(strconv.Itoa(h.Index)))
		c.at = max(c.at, r.atW)
		c.delta = max(c.delta, r.deltaW)
		c.netns = max(c.netns, r.dev.netnsW)
		c.device = max(c.device, r.dev.deviceW)
		c.hook = max(c.hook, r.hookW)
		r.detW = r.detail.width()
		c.detail = max(c.detail, r.detW)
	}
	if c.detail > 0 {
		c.detail = max(c.detail, textWidth("detail"))
	}
	c = fit(c, t.width)

	// Column titles.
	o := &t.out
	o.spaces(indent)
	o.rcell(line{{"#", sDim}}, c.num)
	o.spaces(gap)
	o.rcell(line{{"+time", sDim}}, c.at)
	o.spaces(gap)
	o.rcell(line{{"Δ", sDim}}, c.delta)
	o.spaces(gap)
	o.cell(line{{"netns", sDim}}, c.netns)
	o.spaces(gap)
	o.cell(line{{"device", sDim}}, c.device)
	o.spaces(gap)
	o.cell(line{{"hook", sDim}}, c.hook)
	if c.detail > 0 {
		o.spaces(gap)
		o.cell(line{{"detail", sDim}}, c.detail)
	}
	o.newline()

	st := tupleState{cur: j.Tuple}
	for i := range rows {
		t.row(j, &rows[i], c, &st)
	}
}

// fit shrinks the columns to width. A detail column is kept when at least
// minDetail cells are left for it, if need be by shortening the netns and
// device columns; otherwise details move under their hop and only as much
// is taken from the name columns as the row needs.
func fit(c columns, width int) columns {
	room := width - c.base()
	if c.detail <= room {
		return c
	}
	want := min(c.detail, minDetail)
	if room >= want {
		c.detail = room
		return c
	}
	if t := c; t.shrink(want-room, false) == 0 {
		t.detail = width - t.base()
		return t
	}
	c.detail = 0
	if over := c.base() - gap - width; over > 0 {
		c.shrink(over, true)
	}
	return c
}

// shrink takes up to need cells from the netns, device and (with hook)
// hook columns, in that order, never below their minimum, and returns what
// it could not take.
func (c *columns) shrink(need int, hook bool) int {
	cols := []struct {
		w   *int
		min int
	}{{&c.netns, minNetns}, {&c.device, minDevice}, {&c.hook, minHook}}
	if !hook {
		cols = cols[:2]
	}
	for _, col := range cols {
		take := min(need, max(*col.w-col.min, 0))
		*col.w -= take
		need -= take
	}
	return need
}

// slowestHop is the index of the hop with the largest Δ, or -1 when the
// journey is too short for that to mean anything.
func slowestHop(j *journey.Journey) int {
	if len(j.Hops) < 3 {
		return -1
	}
	best, at := time.Duration(0), -1
	for i := 1; i < len(j.Hops); i++ {
		if d := j.Hops[i].Delta; d > best {
			best, at = d, i
		}
	}
	return at
}

// tupleState follows which tuple the rendered output last showed, so that
// a change is shown once, where it happened.
type tupleState struct{ cur journey.Tuple }

func (t *Text) row(j *journey.Journey, r *hopRow, c columns, st *tupleState) {
	o := &t.out
	h := r.h
	o.spaces(indent)
	num := strconv.Itoa(h.Index)
	o.rtext(num, len(num), sBold, c.num)
	o.spaces(gap)
	o.rtext(r.at, r.atW, sPlain, c.at)
	o.spaces(gap)
	o.rtext(r.delta, r.deltaW, pick(r.slow, sSlow, sDim), c.delta)
	o.spaces(gap)
	if r.dev.netnsW <= c.netns {
		o.text(r.dev.netns, r.dev.netnsW, sNetns, c.netns)
	} else {
		o.cell(line{{r.dev.netnsIn(c.netns), sNetns}}, c.netns)
	}
	o.spaces(gap)
	if r.dev.deviceW <= c.device {
		o.text(r.dev.device, r.dev.deviceW, sDevice, c.device)
	} else {
		o.cell(line{{r.dev.deviceIn(c.device), sDevice}}, c.device)
	}
	o.spaces(gap)
	o.text(r.hook, r.hookW, r.hookSt, c.hook)
	inline := r.detW <= c.detail
	if inline && len(r.detail) > 0 {
		o.spaces(gap)
		o.line(r.detail)
	}
	o.newline()

	room := t.width - c.sub()
	subline := func(l line) {
		o.spaces(c.sub())
		o.line(l.truncate(room))
		o.newline()
	}
	if !inline {
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
		nats := appendNATsAt(t.nats[:0], j, h)
		for _, n := range nats {
			madeHere = madeHere || n.ByHop == h.Index
			l = appendNATLine(l[:0], n.Kind, n.Old, n.New)
			if n.Prog != "" {
				l.add("  by "+sanitize(n.Prog), sProg)
			} else if n.ByHop != 0 {
				l.add("  (inferred)", sDim)
			}
			subline(l)
			st.cur = n.New
		}
		clear(nats)
		t.nats = nats[:0]
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
		var l line
		l.add("skb "+h.Skb.String()+"  cpu "+strconv.FormatUint(uint64(h.CPU), 10)+
			"  len "+strconv.FormatUint(uint64(h.Len), 10)+
			"  mark "+hex(uint64(h.Mark)), sDim)
		subline(l)
	}
}

// hopDetail is the short text after the hook: verdict, drop reason, return
// value, and which skb when it is a clone.
func hopDetail(l line, j *journey.Journey, h *journey.Hop) line {
	sep := func() {
		if len(l) > 0 {
			l.add("  ", sPlain)
		}
	}
	if h.Verdict != "" {
		l.add(sanitize(h.Verdict), verdictStyle(h.Verdict))
		if h.VerdictInferred && h.VerdictFrom() != "" {
			l.add(" (inferred: next "+sanitize(h.VerdictFrom())+")", sDim)
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
		l.add("ret "+strconv.FormatInt(*h.Ret, 10), pick(*h.Ret < 0, sBad, sPlain))
	}
	if h.Skb != 0 && h.Skb != j.Skb {
		sep()
		l.add(cloneLabel(j, h.Skb), sInfo)
	}
	return l
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
