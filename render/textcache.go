package render

import "github.com/pktlife/pktlife/trace/journey"

// The text renderer writes the same devices and programs in journey after
// journey; their labels are made once and kept (up to a bound) instead of
// being built per hop.

// maxCached bounds each label cache; past it the cache starts over.
const maxCached = 4096

// maxDetailSpans is the most spans hopDetail writes.
const maxDetailSpans = 10

type labelCache struct {
	devices map[devKey]*devLabels
	lastDev *devLabels // the last device looked up
	progs   map[journey.Prog]string
	targets map[targetKey]targetLabel
	from    map[string]string // VerdictFrom → inferredFrom
}

// targetKey is what a tail call's target label is made of.
type targetKey struct {
	m        string
	id, slot uint32
}

// targetLabel is tailCallTarget followed by a space, and its width
// without the space.
type targetLabel struct {
	s string
	w int
}

// tailCallTarget returns the tail call's target label, cached.
func (t *Text) tailCallTarget(tc journey.TailCall) targetLabel {
	k := targetKey{tc.Map, tc.MapID, tc.Slot}
	if l, ok := t.labels.targets[k]; ok {
		return l
	}
	if t.labels.targets == nil || len(t.labels.targets) >= maxCached {
		t.labels.targets = make(map[targetKey]targetLabel)
	}
	s := tailCallTarget(tc)
	l := targetLabel{s: s + " ", w: textWidth(s)}
	t.labels.targets[k] = l
	return l
}

// devKey finds a device's labels without hashing its names; the entry
// found is used only when its names are the device's too.
type devKey struct{ netns, ifindex uint32 }

// devLabels are what a hop row shows of its device, with their widths,
// and the labels last cut to a narrower column.
type devLabels struct {
	d               journey.Device
	netns, device   string // netnsLabel, and deviceLabel at any width
	netnsW, deviceW int
	cutNetns        cutLabel
	cutDevice       cutLabel
}

// cutLabel is a label shortened to a column of w cells.
type cutLabel struct {
	w int
	s string
}

// devLabels returns the device's labels, cached.
func (t *Text) devLabels(d journey.Device) *devLabels {
	if l := t.labels.lastDev; l != nil && l.d == d { // hops in a row share devices
		return l
	}
	k := devKey{d.Netns, d.Ifindex}
	if l, ok := t.labels.devices[k]; ok && l.d == d {
		t.labels.lastDev = l
		return l
	}
	if t.labels.devices == nil || len(t.labels.devices) >= maxCached {
		t.labels.devices = make(map[devKey]*devLabels)
	}
	l := &devLabels{d: d, netns: netnsLabel(d), device: deviceLabel(d, 1<<16)}
	l.netnsW, l.deviceW = textWidth(l.netns), textWidth(l.device)
	t.labels.devices[k] = l
	t.labels.lastDev = l
	return l
}

// netnsIn is the netns label cut to w cells, cached for the last w.
func (l *devLabels) netnsIn(w int) string {
	if l.cutNetns.w != w || l.cutNetns.s == "" {
		l.cutNetns = cutLabel{w, cutMiddle(l.netns, w)}
	}
	return l.cutNetns.s
}

// deviceIn is deviceLabel at w cells, cached for the last w.
func (l *devLabels) deviceIn(w int) string {
	if l.cutDevice.w != w || l.cutDevice.s == "" {
		l.cutDevice = cutLabel{w, deviceLabel(l.d, w)}
	}
	return l.cutDevice.s
}

// progLabel is progLabel(p), cached.
func (t *Text) progLabel(p journey.Prog) string {
	if s, ok := t.labels.progs[p]; ok {
		return s
	}
	if t.labels.progs == nil || len(t.labels.progs) >= maxCached {
		t.labels.progs = make(map[journey.Prog]string)
	}
	s := progLabel(p)
	t.labels.progs[p] = s
	return s
}

// inferredFrom is what a hop's detail says of the hop its inferred verdict
// rests on, from (Hop.VerdictFrom) sanitized, cached.
func (t *Text) inferredFrom(from string) string {
	if s, ok := t.labels.from[from]; ok {
		return s
	}
	if t.labels.from == nil || len(t.labels.from) >= maxCached {
		t.labels.from = make(map[string]string)
	}
	s := " (inferred: next " + sanitize(from) + ")"
	t.labels.from[from] = s
	return s
}

// one returns a line of one span (even an empty one) from the arena.
func (t *Text) one(text string, st sty) line {
	return append(t.spansFor(1), span{text, st})
}

// spansFor returns an empty line with room for n spans, from the span
// arena of the journey being written: lines that live until the journey is
// written (hop details) share one buffer instead of growing their own. The
// line's capacity is exactly n, so that growing past it moves it out of
// the arena rather than over its neighbour.
func (t *Text) spansFor(n int) line {
	if cap(t.spans)-len(t.spans) < n {
		// a new arena; lines in the old one stay valid where they are
		t.spans = make(line, 0, max(2*cap(t.spans), 256, n))
	}
	k := len(t.spans)
	t.spans = t.spans[:k+n]
	return t.spans[k : k : k+n]
}
