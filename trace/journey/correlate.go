package journey

import (
	"time"
)

// Options configure a Correlator.
type Options struct {
	// Idle closes a journey that saw no event for this long (kernel time).
	// Zero means 2 s.
	Idle time.Duration
	// MaxInFlight caps the journeys held open; past it the least recently
	// active one is closed as evicted. Zero means 65536.
	MaxInFlight int
	// CloneWindow is how soon after the last skb of a journey was freed a
	// second skb carrying the same packet (same flow and IPv4 ID) is still
	// taken as its clone or copy; while one of its skbs lives, a copy joins
	// it at any time. Zero means 1 ms.
	CloneWindow time.Duration
	// DeliverGrace closes a journey this long after the packet was handed to
	// a local socket, when the kernel shows no free of its skb (UDP's fast
	// free has no tracepoint). Zero means 20 ms.
	DeliverGrace time.Duration
	// Resolver names devices, programs and reasons for the annotate stage.
	// Nil names nothing.
	Resolver Resolver
	// Annotations run after the built-in ones (annotate.go), in order.
	Annotations []Annotation
	// Emit receives each journey once it is complete and annotated. The
	// journey is not touched by the pipeline afterwards.
	Emit func(*Journey)
}

// Stats count what a Correlator did.
type Stats struct {
	Events   uint64 // events added
	Journeys uint64 // journeys emitted
	Evicted  uint64 // journeys closed because MaxInFlight was reached
	Orphans  uint64 // sub-hop events (tail calls) with no journey to attach to
	// LateFrees counts frees of delivered skbs seen after their journey
	// closed (late.go): part of that journey, not a journey of their own.
	LateFrees uint64
	InFlight  int // journeys open now
}

// Correlator groups events into journeys by numbers and time alone: skb
// addresses, packet keys, hook ids, ifindex, netns inode, program ids. What
// those numbers mean is the annotate stage's business (Annotator), which
// gets each journey once the correlator is done with it. It is not safe for
// concurrent use; the tracer feeds it from one goroutine.
type Correlator struct {
	opts  Options
	emit  func(*Journey) // annotate, then Options.Emit
	bySkb map[Ptr]*flight
	byPkt map[pktKey]*flight
	head  *flight // least recently active
	tail  *flight // most recently active
	// closing holds journeys whose last skb was freed, for CloneWindow, in
	// case a copy of the packet shows up next; delivered holds journeys
	// handed to a socket, for DeliverGrace. Both are FIFO: their deadlines
	// grow in order.
	closing timers
	deliver timers
	late    lateFrees
	free    freeFlights // released journeys, to open new ones in
	nextID  uint64
	stats   Stats
	// hopHint8 is a running average of hops per journey: a new journey's
	// hop buffer is allocated at about that size, so that it rarely grows
	// and is handed to the emitted journey as it is, without a copy.
	hopHint8 int     // eight times the average
	rets     []int64 // slab for Hop.Ret values
}

// flight is an open journey.
type flight struct {
	j          *Journey
	freed      bool   // its skbs are all freed: waiting in closing
	gen        uint32 // bumped by each timer push; older timers are stale
	done       bool   // finished and emitted
	last       uint64 // kernel time of the last event
	live       int    // skbs of this journey not yet freed
	delivered  bool
	pkeys      []pktKey // the packet's keys, one per tuple it had (NAT)
	prev, next *flight
	pkey0      [4]pktKey // backing of pkeys for the common case of a few keys
}

// New returns a Correlator whose journeys go through an Annotator with
// opts.Resolver and opts.Annotations on their way to opts.Emit: the
// user-space pipeline after decoding.
func New(opts Options) *Correlator {
	if opts.Idle == 0 {
		opts.Idle = 2 * time.Second
	}
	if opts.MaxInFlight == 0 {
		opts.MaxInFlight = 65536
	}
	if opts.CloneWindow == 0 {
		opts.CloneWindow = time.Millisecond
	}
	if opts.DeliverGrace == 0 {
		opts.DeliverGrace = 20 * time.Millisecond
	}
	a := NewAnnotator(opts.Resolver, opts.Annotations...)
	emit := opts.Emit
	if emit == nil {
		emit = func(*Journey) {}
	}
	return &Correlator{
		opts: opts,
		emit: func(j *Journey) {
			a.Annotate(j)
			emit(j)
		},
		bySkb: make(map[Ptr]*flight),
		byPkt: make(map[pktKey]*flight),
	}
}

// Stats returns the counters so far.
func (c *Correlator) Stats() Stats {
	s := c.stats
	s.InFlight = len(c.bySkb)
	return s
}

// Add feeds one event. It may emit journeys.
func (c *Correlator) Add(ev *Event) {
	c.stats.Events++
	if ev.Hook.Sub() {
		c.addSub(ev)
		return
	}
	f := c.bySkb[ev.Skb]
	if f != nil && c.startsNew(f, ev) {
		c.dropSkb(f, ev.Skb)
		if f.live == 0 {
			why := EndReused
			if f.delivered {
				// TCP frees delivered skbs without a tracepoint
				why = EndDelivered
			}
			c.finish(f, why)
		}
		f = nil
	}
	if f == nil && c.late.take(ev) {
		c.stats.LateFrees++
		return
	}
	if f == nil {
		f = c.cloneOf(ev)
		if f != nil {
			f.j.Clones = append(f.j.Clones, ev.Skb)
			f.live++
			f.freed = false
			c.bySkb[ev.Skb] = f
		}
	}
	if f == nil {
		f = c.open(ev)
	}
	c.touch(f, ev.Time)
	c.appendHop(f, ev)
	c.arm(f, ev)
	for len(c.bySkb) > c.opts.MaxInFlight && c.head != nil {
		c.stats.Evicted++
		c.finishAll(c.head, EndEvicted)
	}
}

// arm starts the timers a free or a delivery sets: f closes CloneWindow
// after its last skb was freed, or DeliverGrace after delivery.
func (c *Correlator) arm(f *flight, ev *Event) {
	switch ev.Hook {
	case HookKfreeSkb, HookConsumeSkb:
		c.dropSkb(f, ev.Skb)
		if f.live == 0 {
			f.freed = true
			c.closing.push(f, ev.Time+uint64(c.opts.CloneWindow))
		}
	case HookSockDeliver:
		c.deliver.push(f, ev.Time+uint64(c.opts.DeliverGrace))
	}
}

// startsNew reports whether ev, on an skb address f already follows, is
// really a new packet that reuses the address.
func (c *Correlator) startsNew(f *flight, ev *Event) bool {
	last := f.j.Last()
	if f.delivered {
		// After delivery only the free of the skb belongs to this packet,
		// and only if it is the same packet: UDP frees delivered skbs
		// without a tracepoint, so the address may already carry another
		// (a tap's clone, say).
		switch ev.Hook {
		case HookKfreeSkb, HookConsumeSkb, HookSockDeliver:
			return last != nil && ev.Tuple.Valid() && last.Tuple.Valid() &&
				ev.Tuple.Flow() != last.Tuple.Flow() && ev.Tuple.Flow() != last.Tuple.Reverse()
		}
		return true
	}
	if last == nil || !ev.Tuple.Valid() || !last.Tuple.Valid() {
		return false
	}
	if ev.Tuple.Proto != last.Tuple.Proto {
		return true
	}
	// NAT rewrites one side; a packet with both sides different is another.
	return ev.Tuple.Src != last.Tuple.Src && ev.Tuple.Dst != last.Tuple.Dst
}

func (c *Correlator) open(ev *Event) *flight {
	fj := c.newFlight()
	j := &fj.j
	*j = Journey{
		Schema: SchemaVersion,
		Skb:    ev.Skb,
		Start:  ev.Time,
		Tuple:  ev.Tuple,
		Hops:   c.newHops(),
		Fate:   FateUnknown,
		owner:  fj,
	}
	f := &fj.f
	*f = flight{j: j, live: 1, last: ev.Time, gen: f.gen}
	f.pkeys = f.pkey0[:0]
	c.bySkb[ev.Skb] = f
	c.addKey(f, ev)
	c.pushBack(f)
	return f
}

func (c *Correlator) appendHop(f *flight, ev *Event) {
	j := f.j
	// The hop is written in place, in a buffer that may hold an old
	// journey's hops (release.go).
	j.Hops = growHops(j.Hops, 1)
	n := len(j.Hops)
	j.Hops = j.Hops[:n+1]
	h := &j.Hops[n]
	*h = Hop{}
	h.Index, h.Time, h.Hook, h.Skb = n+1, ev.Time, ev.Hook, ev.Skb
	h.Device.Netns, h.Device.Ifindex = ev.Netns, ev.Ifindex
	h.CPU, h.Len, h.Mark = ev.CPU, ev.Len, ev.Mark
	h.Tuple = ev.Tuple
	if ev.Packet != "" {
		h.SetPacket([]byte(ev.Packet))
	}
	if ev.Time > j.Start {
		h.At = time.Duration(ev.Time - j.Start)
	}
	nat := false
	if n > 0 {
		prev := &j.Hops[n-1]
		if ev.Time > prev.Time {
			h.Delta = time.Duration(ev.Time - prev.Time)
		}
		if prev.Tuple.Valid() && h.Tuple.Valid() && prev.Tuple.Flow() != h.Tuple.Flow() {
			old := prev.Tuple
			h.NATFrom = &old
			nat = true
		}
	}
	c.hookFields(f, h, ev)
	if nat {
		c.addKey(f, ev) // after the hop is in place: it may merge a copy
	}
}

// hookFields sets what a hop keeps of its event's hook-specific numbers.
func (c *Correlator) hookFields(f *flight, h *Hop, ev *Event) {
	switch ev.Hook {
	case HookKfreeSkb:
		h.reason = ev.Reason
	case HookSockDeliver:
		f.delivered = true
	case HookNetDevXmit:
		h.Ret = c.retVal(int64(int32(ev.Reason)))
	case HookKfunc, HookKfuncRet:
		h.reason = ev.Slot // the hop id
		if ev.Hook == HookKfuncRet {
			h.Ret = c.retVal(int64(int32(ev.Reason)))
		}
	}
}

// Expire closes journeys idle since before now-Idle (kernel time).
func (c *Correlator) Expire(now uint64) {
	for {
		f, live, ok := c.closing.pop(now)
		if !ok {
			break
		}
		if live && f.freed {
			c.finish(f, EndFree)
		}
	}
	for {
		f, live, ok := c.deliver.pop(now)
		if !ok {
			break
		}
		if live && f.delivered && !f.freed {
			c.rememberDelivered(f)
			c.finishAll(f, EndDelivered)
		}
	}
	c.late.expire(now)
	idle := uint64(c.opts.Idle)
	for c.head != nil && c.head.last+idle < now {
		if c.head.freed {
			c.finish(c.head, EndFree)
			continue
		}
		c.finishAll(c.head, EndIdle)
	}
}

// Flush closes every open journey.
func (c *Correlator) Flush() {
	for c.head != nil {
		if c.head.freed {
			c.finish(c.head, EndFree)
			continue
		}
		if c.head.delivered {
			c.finishAll(c.head, EndDelivered)
			continue
		}
		c.finishAll(c.head, EndFlush)
	}
}

func (c *Correlator) dropSkb(f *flight, skb Ptr) {
	if c.bySkb[skb] == f {
		delete(c.bySkb, skb)
		f.live--
	}
}

// finishAll closes f, forgetting every skb it still holds.
func (c *Correlator) finishAll(f *flight, why End) {
	c.dropSkb(f, f.j.Skb)
	for _, skb := range f.j.Clones {
		c.dropSkb(f, skb)
	}
	c.finish(f, why)
}

func (c *Correlator) finish(f *flight, why End) {
	f.done = true
	c.unlink(f)
	for _, k := range f.pkeys {
		if c.byPkt[k] == f {
			delete(c.byPkt, k)
		}
	}
	j := f.j
	n := len(j.Hops)
	c.hopHint8 += n - c.hopHint8/8
	c.nextID++
	j.ID = c.nextID // numbered in the order journeys complete
	j.End = why
	if last := j.Last(); last != nil {
		j.Duration = time.Duration(last.Time - j.Start)
	}
	c.stats.Journeys++
	c.emit(j)
}
