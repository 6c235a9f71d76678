package render

import (
	"strconv"
	"time"
	"unicode/utf8"

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
	atW    int
	deltaW int
	dev    *devLabels // the device's full labels; row shortens them if need be
	hook   string
	hookW  int
	hookSt sty
	detail line
	detW   int
	slow   bool
	// where its time and delta are in the journey's times string (Text.hopTimes);
	// the first hop's delta is empty there, and shown as "—"
	atStart, atEnd, deltaEnd int
}

// times formats every hop's time and delta into one string, in a buffer
// reused from journey to journey: rows[i] gets where its two end.
func (t *Text) times(j *journey.Journey, rows []hopRow) string {
	b := t.timeBuf[:0]
	for i := range j.Hops {
		r := &rows[i]
		k := len(b)
		r.atStart = k
		b = appendDur(b, j.Hops[i].At)
		r.atEnd = len(b)
		// Every character of a time is one cell (µ among them).
		r.atW = utf8.RuneCount(b[k:])
		r.deltaW = 1 // "—"
		if i > 0 {
			b = appendDelta(b, j.Hops[i].Delta)
			r.deltaW = utf8.RuneCount(b[r.atEnd:])
		}
		r.deltaEnd = len(b)
	}
	t.timeBuf = b
	// A copy, one per journey: a view of the reused buffer would be cheaper
	// and safe only while nothing kept the string past the journey.
	return string(b)
}

func (t *Text) table(o *writer, j *journey.Journey) {
	if len(j.Hops) == 0 {
		o.spaces(indent)
		o.span(span{"(no hops)", sDim})
		o.newline()
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
	t.hopTimes = t.times(j, rows)
	for i := range j.Hops {
		h := &j.Hops[i]
		r := &rows[i]
		r.h = h
		r.slow = i == slowest
		r.dev = t.devLabels(h.Device)
		r.hook, r.hookSt = hookLabel(h)
		r.detail = t.hopDetail(t.spansFor(maxDetailSpans), j, h)
		r.hookW = textWidth(r.hook)
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
		t.row(o, j, &rows[i], c, &st)
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
