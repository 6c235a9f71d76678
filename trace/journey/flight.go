package journey

import (
	"encoding/binary"
	"sync"
)

// The correlator's bookkeeping: how flights and their hop buffers are
// allocated and reused, the activity list that finds the least recently
// active journey, and the timer queues.

// flightJourney allocates a flight and its journey together. A released
// journey (Journey.Release) goes back to its correlator's free list, and
// the correlator opens its next journey in it.
type flightJourney struct {
	f flight
	j Journey
	c *Correlator // whose free list it goes back to
}

// freeFlights are released journeys with their flights, for reuse. Release
// may be called on any goroutine, hence the lock; the correlator alone
// touches a flight's fields, since a timer may still hold it (below).
type freeFlights struct {
	mu sync.Mutex
	l  []*flightJourney
}

// maxFreeFlights bounds the free list; journeys released past it are left
// to the garbage collector.
const maxFreeFlights = 4096

// newFlight returns a flight and journey to open, reused when one was
// released. A reused flight may still be queued in a timer of its last
// journey: its generation goes on from there, so those timers are stale.
func (c *Correlator) newFlight() *flightJourney {
	c.free.mu.Lock()
	n := len(c.free.l)
	if n == 0 {
		c.free.mu.Unlock()
		return &flightJourney{c: c}
	}
	fj := c.free.l[n-1]
	c.free.l[n-1] = nil
	c.free.l = c.free.l[:n-1]
	c.free.mu.Unlock()
	gen := fj.f.gen + 1
	*fj = flightJourney{c: c}
	fj.f.gen = gen
	return fj
}

// release puts fj on its correlator's free list.
func (fj *flightJourney) release() {
	c := fj.c
	c.free.mu.Lock()
	if len(c.free.l) < maxFreeFlights {
		c.free.l = append(c.free.l, fj)
	}
	c.free.mu.Unlock()
}

// newHops returns the hop buffer of a new journey (release.go): room for
// two hops more than journeys have had on average lately (at least 4).
func (c *Correlator) newHops() []Hop {
	return getHops(max(4, c.hopHint8/8+2))
}

// retVal stores a return value for Hop.Ret in a slab: one allocation per
// few hundred values instead of one per value.
func (c *Correlator) retVal(v int64) *int64 {
	if len(c.rets) == cap(c.rets) {
		c.rets = make([]int64, 0, 256)
	}
	c.rets = append(c.rets, v)
	return &c.rets[len(c.rets)-1]
}

// pktKey identifies one IPv4 packet across skb copies: its flow and IPv4
// ID, packed into two words (a plain key hashes faster than a Tuple, which
// holds netip's pointers).
type pktKey [2]uint64

func newPktKey(t *Tuple) pktKey {
	s, d := t.Src.Addr().As4(), t.Dst.Addr().As4()
	return pktKey{
		uint64(binary.BigEndian.Uint32(s[:]))<<32 | uint64(binary.BigEndian.Uint32(d[:])),
		uint64(t.Src.Port())<<48 | uint64(t.Dst.Port())<<32 | uint64(t.Proto)<<16 | uint64(t.IPID),
	}
}

// ---- activity list ----

func (c *Correlator) touch(f *flight, ts uint64) {
	if ts > f.last {
		f.last = ts
	}
	if c.tail == f {
		return
	}
	c.unlink(f)
	c.pushBack(f)
}

func (c *Correlator) pushBack(f *flight) {
	f.prev, f.next = c.tail, nil
	if c.tail != nil {
		c.tail.next = f
	} else {
		c.head = f
	}
	c.tail = f
}

func (c *Correlator) unlink(f *flight) {
	if f.prev != nil {
		f.prev.next = f.next
	} else if c.head == f {
		c.head = f.next
	}
	if f.next != nil {
		f.next.prev = f.prev
	} else if c.tail == f {
		c.tail = f.prev
	}
	f.prev, f.next = nil, nil
}

// timers is a FIFO of flights with deadlines in increasing order.
type timers struct {
	q    []timer
	head int
}

type timer struct {
	f        *flight
	gen      uint32
	deadline uint64
}

func (t *timers) push(f *flight, deadline uint64) {
	if t.head > 0 && t.head >= len(t.q)/2 {
		// drop the popped half instead of growing past it
		n := copy(t.q, t.q[t.head:])
		clear(t.q[n:])
		t.q, t.head = t.q[:n], 0
	}
	f.gen++
	t.q = append(t.q, timer{f, f.gen, deadline})
}

// pop returns the first flight whose deadline is before now, unless a
// later push for the same flight made this timer stale.
func (t *timers) pop(now uint64) (f *flight, live, ok bool) {
	if t.head == len(t.q) || t.q[t.head].deadline > now {
		return nil, false, false
	}
	tm := t.q[t.head]
	t.q[t.head] = timer{}
	t.head++
	return tm.f, tm.gen == tm.f.gen && !tm.f.done, true
}
