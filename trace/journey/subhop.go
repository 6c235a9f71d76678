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
	var tc *Hop
	for i := len(j.Hops) - 1; i >= 0; i-- {
		if j.Hops[i].Hook.IsTC() {
			tc = &j.Hops[i]
			break
		}
	}
	if tc == nil {
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
			c.addKey(f, ev)
		}
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
		tc.Verdict = VerdictName(int32(ev.Reason))
		tc.VerdictInferred = false
	}
}
