package journey

import "sync"

// Reusing what a written journey held. Hop buffers are most of the bytes
// the pipeline allocates (a Hop is a few hundred bytes, one per event),
// then the journey itself with its flight. A consumer that keeps nothing of
// a journey once it has written it (the CLI, rendering text or JSON) hands
// it back with Release: the hop buffer and the NAT list to pools here, which
// correlators draw from before allocating, and the journey to its
// correlator's free list (flight.go), where it opens the next journey.
//
// Hop buffers come in size classes, so that a reused buffer is about the
// size asked for: 4, 6, 8, 12, 16, 24, … hops (powers of two and the
// midpoints between them), up to maxPooledHops. A new buffer has its
// class's size, less than 1.5 times the hops asked for.

// hopClasses is the number of size classes; the last is maxPooledHops.
const hopClasses = 18

// maxPooledHops is the largest buffer pooled: longer ones are allocated
// and left to the garbage collector.
var maxPooledHops = classHops(hopClasses - 1)

// hopPools holds released buffers by class, as *[]Hop of length zero.
var hopPools [hopClasses]sync.Pool

// classHops is the capacity of class i: 4, 6, 8, 12, 16, …
func classHops(i int) int { return (2 + i%2) << (i/2 + 1) }

// classFor is the smallest class of at least n hops, or hopClasses when n
// is over maxPooledHops.
func classFor(n int) int {
	i := 0
	for i < hopClasses && classHops(i) < n {
		i++
	}
	return i
}

// getHops returns an empty buffer with room for at least n hops.
func getHops(n int) []Hop {
	i := classFor(n)
	if i == hopClasses {
		return make([]Hop, 0, n)
	}
	if p, ok := hopPools[i].Get().(*[]Hop); ok {
		return *p
	}
	return make([]Hop, 0, classHops(i))
}

// putHops pools b, whose hops nothing uses any more. A buffer whose
// capacity is not a class's own (Release of a journey built elsewhere) is
// left to the garbage collector.
func putHops(b []Hop) {
	n := cap(b)
	i := classFor(n)
	if i == hopClasses || classHops(i) != n {
		return
	}
	// Not cleared: the next journey overwrites each hop it appends, and
	// clearing costs a write barrier per pointer while the collector
	// marks. Until then the old hops keep what they point to (names,
	// tail calls) alive, as long as the pool keeps the buffer.
	b = b[:0]
	hopPools[i].Put(&b)
}

// growHops returns b with room for extra more hops: b itself, or a buffer
// at least twice its size holding its hops, b going back to the pool.
func growHops(b []Hop, extra int) []Hop {
	if len(b)+extra <= cap(b) {
		return b
	}
	nb := append(getHops(max(2*cap(b), len(b)+extra)), b...)
	putHops(b)
	return nb
}

// Release hands j back to be reused by later journeys: its hop and NAT
// buffers, and, for a journey a correlator made, the journey itself. Call
// it once a journey has been written and nothing keeps it: j, and anything
// in or pointing into it, must not be used afterwards, since another
// journey will be written there. Releasing is optional: a journey that is
// not released is collected as usual. Call it once per journey; it is safe
// for concurrent use with other journeys' Release and with correlators.
func (j *Journey) Release() {
	putHops(j.Hops)
	putNATs(j.NAT)
	j.Hops, j.NAT = nil, nil
	if fj := j.owner; fj != nil {
		j.owner = nil
		fj.release()
	}
}

// NAT buffers: most journeys that have NAT have one to four changes, so
// one class of buffers, of natBufCap, serves them; longer lists are
// allocated at their size.
const natBufCap = 4

var natPool sync.Pool // of *[]NAT, empty, of capacity natBufCap

// getNATs returns an empty buffer with room for n changes.
func getNATs(n int) []NAT {
	if n > natBufCap {
		return make([]NAT, 0, n)
	}
	if p, ok := natPool.Get().(*[]NAT); ok {
		return *p
	}
	return make([]NAT, 0, natBufCap)
}

func putNATs(b []NAT) {
	if cap(b) != natBufCap {
		return
	}
	b = b[:0]
	natPool.Put(&b)
}
