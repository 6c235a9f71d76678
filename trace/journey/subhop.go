package journey

import "time"

// addSub attaches a tail call or program entry/exit to the last tc hop of
// the skb's journey.
func (c *Correlator) addSub(ev *Event) {
	f := c.bySkb[ev.Skb]
	if f == nil {
		c.stats.Orphans++
		return
	}
	c.touch(f, ev.Time)
	j := f.j
	i := lastTC(j.Hops)
	if i < 0 {
		c.stats.Orphans++
		return
	}
	switch ev.Hook {
	case HookTailCall:
		// The shim's tuple is the packet as the chain has it so far: a
		// NAT inside the chain is known from here on, so that a copy of
		// the rewritten packet (neigh_probe clones a packet waiting for
		// ARP, before the packet itself moves on) joins this journey.
		if ev.Flags&FlagTuple != 0 {
			n, tc := len(j.Hops), j.Hops[i].hopID()
			c.addKey(f, ev)
			if len(j.Hops) != n {
				// a copy's hops were merged in: the tc hop moved, and
				// maybe to another buffer
				i = findHop(j.Hops, tc)
			}
		}
		tc := &j.Hops[i]
		at := time.Duration(0)
		if ev.Time > j.Start {
			at = time.Duration(ev.Time - j.Start)
		}
		tc.TailCalls = append(tc.TailCalls, TailCall{
			At:     at,
			MapID:  ev.MapID,
			Slot:   ev.Slot,
			Prog:   Prog{ID: ev.ProgID},
			Missed: ev.ProgID == 0,
			CB:     ev.CB,
			Tuple:  ev.Tuple,
		})
	case HookProgExit:
		tc := &j.Hops[i]
		tc.Verdict = VerdictName(int32(ev.Reason))
		tc.VerdictInferred = false
	}
}

// lastTC is the index of the last tc hop of hops, or -1.
func lastTC(hops []Hop) int {
	for i := len(hops) - 1; i >= 0; i-- {
		if hops[i].Hook.IsTC() {
			return i
		}
	}
	return -1
}

// hopID tells a hop from the others of its journey.
type hopID struct {
	time uint64
	skb  Ptr
	hook Hook
}

func (h *Hop) hopID() hopID { return hopID{h.Time, h.Skb, h.Hook} }

// findHop is the index of the last hop of hops with the given id; it is
// there.
func findHop(hops []Hop, id hopID) int {
	for i := len(hops) - 1; ; i-- {
		if hops[i].hopID() == id {
			return i
		}
	}
}
