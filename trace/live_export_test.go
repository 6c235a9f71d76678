package trace

import (
	"fmt"

	"github.com/pktlife/pktlife/bpf"
)

// LiveMismatchForTest compares the kernel's live array with the tracked
// entries that may be followed (last_ts set), slot by slot, and describes
// each slot where the count is not the number of such entries ("" when all
// agree). Exact agreement holds when no entry was evicted from tracked;
// call it when no packet is in flight.
func LiveMismatchForTest(t *Tracer) (string, error) {
	m := t.objs.maps
	mask := m.Live.MaxEntries() - 1
	want := make(map[uint32]uint32)
	var k uint64
	var v bpf.PktlifeTrack
	it := m.Tracked.Iterate()
	for it.Next(&k, &v) {
		if v.LastTs != 0 {
			want[liveSlot(k, mask)]++
		}
	}
	if err := it.Err(); err != nil {
		return "", fmt.Errorf("read tracked: %w", err)
	}
	var diff string
	var slot, n uint32
	it = m.Live.Iterate()
	for it.Next(&slot, &n) {
		if n != want[slot] {
			diff += fmt.Sprintf("slot %d: count %d, followed entries %d; ", slot, n, want[slot])
		}
	}
	if err := it.Err(); err != nil {
		return "", fmt.Errorf("read live: %w", err)
	}
	return diff, nil
}

// liveSlot is addr_hash (bpf/pktlife.c) masked to the live array.
func liveSlot(skb uint64, mask uint32) uint32 {
	lo := uint32(skb)
	return (lo>>8 ^ lo>>21) & mask
}
