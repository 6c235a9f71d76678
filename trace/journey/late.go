package journey

// A journey handed to a socket closes DeliverGrace after delivery, since
// UDP's fast free has no tracepoint. When the application reads later, the
// kernel may still show the free of that skb (consume_skb, or kfree_skb
// when the socket is closed with data queued); lateFrees keeps the
// delivered skbs for Idle so that such a free is recognised and counted
// (Stats.LateFrees), not taken for a new one-hop journey.

// lateFree is a delivered skb whose journey has already been emitted.
type lateFree struct {
	skb   Ptr
	flow  Tuple // the packet's last flow, to tell it from a reuse
	until uint64
}

type lateFrees struct {
	bySkb map[Ptr]lateFree
	q     []lateFree // FIFO by until
	head  int
}

// remember keeps skb, last seen carrying flow, until the kernel time until.
func (l *lateFrees) remember(skb Ptr, flow Tuple, until uint64) {
	if l.bySkb == nil {
		l.bySkb = make(map[Ptr]lateFree)
	}
	e := lateFree{skb: skb, flow: flow, until: until}
	l.bySkb[skb] = e
	if l.head > 0 && l.head >= len(l.q)/2 {
		n := copy(l.q, l.q[l.head:])
		clear(l.q[n:])
		l.q, l.head = l.q[:n], 0
	}
	l.q = append(l.q, e)
}

// take reports whether ev is the late free of a delivered skb, and forgets
// the skb on any event: after a free or a reuse, the address is another's.
func (l *lateFrees) take(ev *Event) bool {
	e, ok := l.bySkb[ev.Skb]
	if !ok {
		return false
	}
	delete(l.bySkb, ev.Skb)
	if ev.Hook != HookConsumeSkb && ev.Hook != HookKfreeSkb || ev.Time > e.until {
		return false
	}
	if !ev.Tuple.Valid() || !e.flow.Valid() {
		return true
	}
	f := ev.Tuple.Flow()
	return f == e.flow || f == e.flow.Reverse()
}

// expire forgets the skbs kept until before now.
func (l *lateFrees) expire(now uint64) {
	for l.head < len(l.q) && l.q[l.head].until < now {
		e := l.q[l.head]
		l.q[l.head] = lateFree{}
		l.head++
		if cur, ok := l.bySkb[e.skb]; ok && cur.until == e.until {
			delete(l.bySkb, e.skb)
		}
	}
}

// rememberDelivered keeps f's live skbs, whose frees may show up after
// DeliverGrace closed f, for Idle.
func (c *Correlator) rememberDelivered(f *flight) {
	var flow Tuple
	if last := f.j.Last(); last != nil && last.Tuple.Valid() {
		flow = last.Tuple.Flow()
	}
	until := f.last + uint64(c.opts.Idle)
	remember := func(skb Ptr) {
		if c.bySkb[skb] == f {
			c.late.remember(skb, flow, until)
		}
	}
	remember(f.j.Skb)
	for _, skb := range f.j.Clones {
		remember(skb)
	}
}
