package journey

import (
	"cmp"
	"slices"
	"time"
)

// Copies of one packet: a clone or copy of an skb (a tap, a veth crossing)
// carries the same packet, found by its packet key (flow and IPv4 ID), and
// joins the journey of the first skb seen with it.

// cloneOf finds the journey of which ev's skb is a copy: one with the same
// packet key whose skbs are not all freed, or were freed within
// CloneWindow. A copy made while the packet waits (neigh_probe clones a
// packet queued for ARP, which on a slow machine takes milliseconds) is
// still the packet's.
func (c *Correlator) cloneOf(ev *Event) *flight {
	k, ok := keyOf(ev)
	if !ok {
		return nil
	}
	f := c.byPkt[k]
	if f == nil || f.j.Last() == nil {
		return nil
	}
	if f.freed && ev.Time-f.last > uint64(c.opts.CloneWindow) && ev.Time > f.last {
		return nil
	}
	return f
}

func keyOf(ev *Event) (pktKey, bool) {
	t := ev.Tuple
	if !t.Src.Addr().Is4() || !t.Dst.Addr().Is4() || t.IPID == 0 {
		return pktKey{}, false
	}
	return newPktKey(&t), true
}

// addKey indexes f by the packet key of ev's tuple, for finding copies.
// A journey already open under that key is a copy of this packet that was
// seen first with the tuple f has only now reached (after NAT): it is merged
// into f.
func (c *Correlator) addKey(f *flight, ev *Event) {
	k, ok := keyOf(ev)
	if !ok {
		return
	}
	g := c.byPkt[k]
	if g == f {
		return // indexed already (a tail call's tuple, say)
	}
	if g != nil && !g.done {
		if d := int64(ev.Time) - int64(g.last); d < int64(c.opts.CloneWindow) && d > -int64(c.opts.CloneWindow) {
			c.merge(f, g)
		}
	}
	f.pkeys = append(f.pkeys, k)
	c.byPkt[k] = f
}

// merge moves g's hops and skbs into f and retires g without emitting it.
func (c *Correlator) merge(f, g *flight) {
	for _, skb := range append([]Ptr{g.j.Skb}, g.j.Clones...) {
		if c.bySkb[skb] == g {
			c.bySkb[skb] = f
			f.live++
		}
		f.j.Clones = append(f.j.Clones, skb)
	}
	f.j.Hops = append(growHops(f.j.Hops, len(g.j.Hops)), g.j.Hops...)
	slices.SortStableFunc(f.j.Hops, func(a, b Hop) int { return cmp.Compare(a.Time, b.Time) })
	f.j.Start = min(f.j.Start, f.j.Hops[0].Time)
	for i := range f.j.Hops {
		h := &f.j.Hops[i]
		h.Index = i + 1
		h.At = time.Duration(h.Time - f.j.Start)
		h.Delta = 0
		if i > 0 {
			h.Delta = time.Duration(h.Time - f.j.Hops[i-1].Time)
		}
	}
	for _, k := range g.pkeys {
		c.byPkt[k] = f
	}
	f.pkeys = append(f.pkeys, g.pkeys...)
	f.delivered = f.delivered || g.delivered
	g.done = true
	c.unlink(g)
	putHops(g.j.Hops) // never emitted: nothing else has its hops
	g.j.Hops = nil
}
