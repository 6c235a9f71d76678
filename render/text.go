package render

import (
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/pktlife/pktlife/trace/journey"
)

// ErrClosed is returned by a renderer's Journey after Close.
var ErrClosed = errors.New("renderer closed")

// Text writes journeys as a terminal timeline: a header with the packet's
// flow and fate, then one row per hop with its timing, place and what
// happened there, and indented lines for the BPF programs, tail calls, NAT
// and (verbose) skb details of that hop. Each journey is written with one
// Write call, separated from the previous one by a blank line.
type Text struct {
	w        io.Writer
	o        Options
	width    int
	out      writer
	rows     []hopRow      // reused from journey to journey
	nats     []journey.NAT // a hop's NATs (row)
	spans    line          // span arena of the journey being written
	scratch  line          // a line being built and written at once
	timeBuf  []byte        // the hops' times, formatted (table)
	hopTimes string        // and as one string, for the journey being written
	lines    []line        // the header's title lines
	rest     []line        // and summary lines
	items    []flowItem    // the title's pieces
	meta     []flowItem    // the summary's pieces
	labels   labelCache
	n        uint64
	closed   bool
}

// NewText returns a Text renderer writing to w.
func NewText(w io.Writer, o Options) *Text {
	t := &Text{w: w, o: o, width: o.width()}
	if o.Color {
		t.out.pal = newPalette()
	}
	return t
}

// Journey writes one journey.
func (t *Text) Journey(j *journey.Journey) error {
	if t.closed {
		return fmt.Errorf("render journey: %w", ErrClosed)
	}
	if j == nil {
		return errors.New("render journey: nil journey")
	}
	// The output is built in a writer on the stack: appending to a buffer
	// held in t would store its pointer to the heap, behind a write
	// barrier, at every append while the collector runs.
	o := writer{b: t.out.b[:0], pal: t.out.pal}
	t.spans = t.spans[:0]
	if t.n > 0 {
		o.b = append(o.b, '\n')
	}
	t.header(&o, j)
	t.table(&o, j)
	t.hopTimes = ""
	t.n++
	t.out.b = o.b
	if _, err := t.w.Write(o.b); err != nil {
		return fmt.Errorf("write journey %d: %w", j.ID, err)
	}
	return nil
}

// Close ends the output. It writes nothing; it is safe to call twice.
func (t *Text) Close() error {
	t.closed = true
	return nil
}

// header writes the journey's title and summary, wrapped at the width:
//
//	● journey 3  udp 10.244.1.2:40000 → 10.96.0.10:80 ⇒ 10.244.2.2:8080  ✗ dropped: TC_INGRESS
//	  4 hops · 4.6µs · node-a · 2025-06-01 12:00:00.125456
//
// The fate stays on the title line when it fits, else it opens the summary.
func (t *Text) header(o *writer, j *journey.Journey) {
	// Lines and items live in the journey's span arena and reused buffers.
	first := t.spansFor(24)
	first.add("● ", fateStyle(j.Fate))
	first.add("journey "+strconv.FormatUint(j.ID, 10), sTitle)
	last := lastTuple(j)
	src, dst := t.spansFor(12), t.spansFor(12)
	src.addTupleSrc(j.Tuple, last)
	dst.addTupleDst(j.Tuple, last)
	items := append(t.items[:0], flowItem{"  ", src}, flowItem{" ", dst})
	if j.Tuple.Proto == 6 && j.Tuple.TCPFlags != 0 {
		items = append(items, flowItem{" ", t.one(tcpFlags(j.Tuple.TCPFlags), sDim)})
	}
	title := flow(t.lines[:0], first, items, t.width)
	fate := appendFate(t.spansFor(6), j)

	meta := t.meta[:0]
	if last := &title[len(title)-1]; last.width()+2+fate.width() <= t.width {
		last.add("  ", sPlain)
		*last = append(*last, fate...)
	} else {
		meta = append(meta, flowItem{"", fate})
	}
	meta = t.summary(meta, j)
	for i := range meta {
		meta[i].sep = " · "
	}
	meta[0].sep = " "
	for _, l := range title {
		o.line(l)
		o.newline()
	}
	rest := flow(t.rest[:0], append(t.spansFor(16), span{" ", sPlain}), meta, t.width)
	for _, l := range rest {
		o.line(l)
		o.newline()
	}
	// keep the grown buffers, holding on to nothing
	clear(title)
	clear(rest)
	clear(items)
	clear(meta)
	t.lines, t.rest, t.items, t.meta = title[:0], rest[:0], items[:0], meta[:0]
}

// summary appends the summary's pieces after the fate: hops, duration,
// node, start time, and the skb, its clones and the IP ID when they are
// shown.
func (t *Text) summary(meta []flowItem, j *journey.Journey) []flowItem {
	meta = append(meta, flowItem{"", t.one(plural(len(j.Hops), "hop", "hops"), sDim)})
	if len(j.Hops) > 1 {
		meta = append(meta, flowItem{"", t.one(fmtDur(j.Duration), sBold)})
	}
	if j.Node != "" {
		meta = append(meta, flowItem{"", t.one(sanitize(j.Node), sDim)})
	}
	if !j.StartWall.IsZero() {
		meta = append(meta, flowItem{"", t.one(j.StartWall.Format("2006-01-02 15:04:05.000000"), sDim)})
	}
	if t.o.Verbose || len(j.Clones) > 0 {
		l := line{{"skb " + j.Skb.String(), sDim}}
		if len(j.Clones) > 0 {
			l.add(" + "+plural(len(j.Clones), "clone", "clones"), sInfo)
		}
		meta = append(meta, flowItem{"", l})
	}
	if t.o.Verbose && j.Tuple.IPID != 0 {
		meta = append(meta, flowItem{"", line{{"ip id " + strconv.FormatUint(uint64(j.Tuple.IPID), 10), sDim}}})
	}
	if t.o.Verbose {
		for i, c := range j.Clones {
			meta = append(meta, flowItem{"", line{{"clone " + strconv.Itoa(i+1) + " " + c.String(), sDim}}})
		}
	}
	return meta
}

// flowItem is a piece of a wrapped line and what separates it from the
// piece before it on the same line.
type flowItem struct {
	sep string
	l   line
}

// flow lays items out after first, starting a new line, indented by two,
// when the next item would pass width; a piece wider than a line is cut.
func flow(out []line, first line, items []flowItem, width int) []line {
	const wrapIndent = "  "
	out = append(out, first)
	cur := &out[0]
	curW := first.width() // cur's width, kept as it grows
	cut := curW > width   // some line is wider than width
	for _, it := range items {
		if len(it.l) == 0 {
			continue
		}
		w := it.l.width()
		switch sepW := textWidth(it.sep); {
		case curW+sepW+w <= width:
			cur.add(it.sep, sDim)
			*cur = append(*cur, it.l...)
			curW += sepW + w
		case curW <= textWidth(wrapIndent): // nothing on this line yet
			*cur = append(*cur, it.l...)
			curW += w
		default:
			out = append(out, append(line{{wrapIndent, sPlain}}, it.l...))
			cur = &out[len(out)-1]
			curW = textWidth(wrapIndent) + w
		}
		cut = cut || curW > width
	}
	for i := range out {
		if cut {
			out[i] = out[i].truncate(width)
		}
	}
	return out
}

// lastTuple is the last valid tuple a hop saw, or nil.
func lastTuple(j *journey.Journey) *journey.Tuple {
	for i := len(j.Hops) - 1; i >= 0; i-- {
		if j.Hops[i].Tuple.Valid() {
			return &j.Hops[i].Tuple
		}
	}
	return nil
}

// fateLine says how the journey ended: "✓ delivered", "✗ dropped: reason",
// "? unknown: idle timeout", and why it ended when that is not a free.
func fateLine(j *journey.Journey) line { return appendFate(nil, j) }

// appendFate appends fateLine's spans to l.
func appendFate(l line, j *journey.Journey) line {
	st := fateStyle(j.Fate)
	switch j.Fate {
	case journey.FateDelivered:
		l.add("✓ delivered", st)
	case journey.FateDropped:
		l.add("✗ dropped", st)
		if j.DropReason != "" {
			l.add(": "+reasonName(j.DropReason), st)
		}
	case journey.FateTransmitted:
		l.add("↗ transmitted", st)
		if h := j.Last(); h != nil && h.Device.Name != "" {
			l.add(" via "+sanitize(h.Device.Name), st)
		}
	case journey.FateConsumed:
		l.add("○ consumed", st)
	case journey.FateUnknown, "":
		l.add("? unknown", st)
	default:
		l.add("? "+sanitize(string(j.Fate)), st)
	}
	if e := endText(j.End); e != "" {
		sep := " ("
		if j.Fate == journey.FateUnknown || j.Fate == "" {
			sep = ": "
		}
		l.add(sep+e, sWarn)
		if sep == " (" {
			l.add(")", sWarn)
		}
	}
	return l
}

// endText explains an end other than the packet being freed.
func endText(e journey.End) string {
	switch e {
	case journey.EndFree, journey.EndDelivered, "":
		return ""
	case journey.EndIdle:
		return "idle timeout"
	case journey.EndEvicted:
		return "evicted (in-flight cap)"
	case journey.EndFlush:
		return "trace ended"
	case journey.EndReused:
		return "skb reused before its free was seen"
	}
	return "end " + sanitize(string(e))
}

func fateStyle(f journey.Fate) sty {
	switch f {
	case journey.FateDelivered:
		return sGood
	case journey.FateDropped:
		return sBad
	case journey.FateTransmitted:
		return sInfo
	case journey.FateConsumed:
		return sConsumed
	}
	return sWarn
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

func hex(v uint64) string { return "0x" + strconv.FormatUint(v, 16) }
