package journey

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// TestBacklogSameAsLive replays a stream recorded on a real kernel twice:
// paced as the tracer's reader hands it out live (rounds of a tick, each
// followed by Expire at the round's limit), and as one backlog that waited
// in the rings before the reader's first round (all of it added, then one
// Expire long after). A tracer whose reader starts late, or falls behind,
// must make the same journeys: timeouts run on event time, never on how
// late the events are read.
func TestBacklogSameAsLive(t *testing.T) {
	names, evs := demoStream(t)
	if len(evs) == 0 {
		t.Fatal("empty stream")
	}
	const tick, slack = uint64(50 * time.Millisecond), uint64(2 * time.Millisecond)

	live := collect(names, func(c *Correlator) {
		next := evs[0].Time + tick
		for i := range evs {
			for evs[i].Time >= next-slack {
				c.Expire(next - slack)
				next += tick
			}
			c.Add(&evs[i])
		}
		c.Expire(evs[len(evs)-1].Time + uint64(10*time.Second))
	})
	backlog := collect(names, func(c *Correlator) {
		for i := range evs {
			c.Add(&evs[i])
		}
		c.Expire(evs[len(evs)-1].Time + uint64(10*time.Second))
	})
	if len(live) < 5 {
		t.Fatalf("%d journeys live: the stream should make more", len(live))
	}
	if !slices.Equal(live, backlog) {
		t.Errorf("journeys differ:\nlive:\n%s\nbacklog:\n%s", lines(live), lines(backlog))
	}
}

// collect runs feed on a correlator and describes each journey it emits:
// its skb, hops and end, sorted.
func collect(names Resolver, feed func(*Correlator)) []string {
	var out []string
	c := New(Options{Resolver: names, Emit: func(j *Journey) {
		out = append(out, fmt.Sprintf("%s %d %s %s", j.Skb, j.Start, hooks(j), j.End))
	}})
	feed(c)
	c.Flush()
	slices.Sort(out)
	return out
}

func lines(s []string) string {
	b := ""
	for _, l := range s {
		b += "  " + l + "\n"
	}
	return b
}
