package runner

import (
	"cmp"
	"context"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/pktlife/pktlife/check"
	"github.com/pktlife/pktlife/trace"
	"github.com/pktlife/pktlife/trace/journey"
)

// collector keeps the journeys the tracer emits and wakes up whoever waits
// for them.
type collector struct {
	mu     sync.Mutex
	js     []*journey.Journey
	notify chan struct{}
}

func newCollector() *collector { return &collector{notify: make(chan struct{}, 1)} }

func (c *collector) add(j *journey.Journey) bool {
	c.mu.Lock()
	c.js = append(c.js, j)
	c.mu.Unlock()
	select {
	case c.notify <- struct{}{}:
	default:
	}
	return true
}

// mark returns the number of journeys so far: the start of a probe's.
func (c *collector) mark() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.js)
}

// since returns the journeys emitted after mark, in the order they started.
func (c *collector) since(mark int) []*journey.Journey {
	c.mu.Lock()
	out := slices.Clone(c.js[mark:])
	c.mu.Unlock()
	slices.SortStableFunc(out, func(a, b *journey.Journey) int { return cmp.Compare(a.Start, b.Start) })
	return out
}

// TCP header flags, as in journey.Tuple.TCPFlags.
const (
	tcpSYN = 0x02
	tcpACK = 0x10
)

// pick finds the journey of one of a probe's packets among js (sorted by
// start): the first packet (for TCP the SYN) goes from the probe's source
// to its destination; the reply (the SYN-ACK) comes back to the source.
func pick(js []*journey.Journey, f *inflight, pk check.Packet, own func(*journey.Journey) bool) *journey.Journey {
	for _, j := range js {
		t := j.Tuple
		if t.Proto != f.proto || (own != nil && !own(j)) {
			continue
		}
		tcp := f.proto == 6
		switch pk {
		case check.PacketFirst:
			if sameEnd(t.Src, f.local) && sameEnd(t.Dst, f.remote) &&
				(!tcp || t.TCPFlags&(tcpSYN|tcpACK) == tcpSYN) {
				return j
			}
		case check.PacketReply:
			if sameEnd(t.Dst, f.local) && !sameEnd(t.Src, f.local) &&
				(!tcp || t.TCPFlags&(tcpSYN|tcpACK) == tcpSYN|tcpACK) {
				return j
			}
		}
	}
	return nil
}

// sameEnd compares an observed endpoint with a probe's; a probe's port 0
// (icmp) compares addresses only.
func sameEnd(got, want netip.AddrPort) bool {
	if got.Addr().Unmap() != want.Addr().Unmap() {
		return false
	}
	return want.Port() == 0 || got.Port() == want.Port()
}

// waitJourneys waits until the journeys of the wanted packets have all been
// emitted and the tracer holds no journey open, or — when some never come —
// until the tracer has been quiet for a while with nothing open, or until
// timeout. Quiet is judged by the tracer's event counter, not by sleeping
// a fixed time.
func waitJourneys(ctx context.Context, tr *trace.Tracer, c *collector, mark int, f *inflight, want []check.Packet, own func(*journey.Journey) bool, timeout time.Duration) []*journey.Journey {
	const tick, quietFor = 50 * time.Millisecond, 300 * time.Millisecond
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	ticker := time.NewTicker(tick)
	defer ticker.Stop()
	lastEvents, quietSince := tr.Stats().Events, time.Now()
	for {
		js := c.since(mark)
		all := true
		for _, pk := range want {
			if pick(js, f, pk, own) == nil {
				all = false
			}
		}
		st := tr.Stats()
		if st.Events != lastEvents {
			lastEvents, quietSince = st.Events, time.Now()
		}
		quiet := time.Since(quietSince) >= quietFor
		switch {
		case all && (st.InFlight == 0 || quiet):
			return js
		case quiet && st.InFlight == 0:
			return js // nothing more is coming
		}
		select {
		case <-ctx.Done():
			return js
		case <-deadline.C:
			return c.since(mark)
		case <-c.notify:
		case <-ticker.C:
		}
	}
}
