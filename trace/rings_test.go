package trace

import (
	"math"
	"os"
	"slices"
	"testing"
	"unsafe"

	"github.com/pktlife/pktlife/bpf"
	"github.com/pktlife/pktlife/trace/journey"
)

func TestRingSize(t *testing.T) {
	page := os.Getpagesize()
	for _, c := range []struct{ total, ncpu, want int }{
		{8 << 20, 2, 4 << 20},     // the default, split
		{8 << 20, 128, 256 << 10}, // never below 256 KiB when the total allows it
		{8 << 20, 3, 2 << 20},     // a power of two
		{64 << 10, 2, 64 << 10},   // a small total: each ring gets it
		{page, 4, page},           // never below a page
		{page / 2, 1, page},
	} {
		if got := ringSize(c.total, c.ncpu); got != c.want {
			t.Errorf("ringSize(%d, %d) = %d, want %d", c.total, c.ncpu, got, c.want)
		}
	}
}

// TestRingRelease checks the merge: events come out in time order, and
// only those older than the round's limit; the rest wait.
func TestRingRelease(t *testing.T) {
	r := &ringReader{}
	// two rings' worth, each in order, read one after the other
	for _, ts := range []uint64{10, 30, 50, 20, 40, 60} {
		r.pending = append(r.pending, journey.Event{Time: ts})
	}
	r.sort()
	var got []uint64
	hand := func(ev *journey.Event) { got = append(got, ev.Time) }
	if n := r.release(45, hand); n != 4 {
		t.Fatalf("released %d, want 4", n)
	}
	if want := []uint64{10, 20, 30, 40}; !slices.Equal(got, want) {
		t.Fatalf("released %v, want %v", got, want)
	}
	if len(r.pending) != 2 || r.pending[0].Time != 50 {
		t.Fatalf("left %v, want 50 and 60", r.pending)
	}
	// a late event older than what is left goes before it
	r.pending = append(r.pending, journey.Event{Time: 45})
	r.sort()
	got = nil
	r.release(math.MaxUint64, hand)
	if want := []uint64{45, 50, 60}; !slices.Equal(got, want) {
		t.Fatalf("released %v, want %v", got, want)
	}
	if len(r.pending) != 0 {
		t.Fatalf("left %d events", len(r.pending))
	}
}

func TestParseCPUList(t *testing.T) {
	for _, c := range []struct {
		in   string
		ncpu int
		want []int
		ok   bool
	}{
		{"0-3", 4, []int{0, 1, 2, 3}, true},
		{"0,2-3,7", 8, []int{0, 2, 3, 7}, true},
		{"0-7", 4, []int{0, 1, 2, 3}, true}, // only possible CPUs
		{"5", 4, nil, false},
		{"", 4, nil, false},
		{"3-1", 4, nil, false},
		{"x", 4, nil, false},
	} {
		got, ok := parseCPUList(c.in, c.ncpu)
		if ok != c.ok || !slices.Equal(got, c.want) {
			t.Errorf("parseCPUList(%q, %d) = %v, %v; want %v, %v", c.in, c.ncpu, got, ok, c.want, c.ok)
		}
	}
}

// TestRingDecodeRecords checks the three records the rings carry: one
// event, an event with its capture, and a staging buffer's events.
func TestRingDecodeRecords(t *testing.T) {
	event := func(ts uint64) []byte {
		e := bpf.PktlifeEvent{Ts: ts, Hook: uint8(bpf.PktlifePlHookPL_HOOK_TC_INGRESS)}
		return unsafe.Slice((*byte)(unsafe.Pointer(&e)), EventSize)
	}
	r := &ringReader{}
	if n := r.decode(event(1)); n != 1 {
		t.Fatalf("one event: decoded %d", n)
	}
	c := bpf.PktlifeCapture{Len: 3, Data: [256]uint8{0x45, 0, 1}}
	capRec := append(slices.Clone(event(2)), unsafe.Slice((*byte)(unsafe.Pointer(&c)), captureSize)...)
	if n := r.decode(capRec); n != 1 {
		t.Fatalf("event with capture: decoded %d", n)
	}
	var batch []byte
	for ts := uint64(3); ts < 3+uint64(stageEvents); ts++ {
		batch = append(batch, event(ts)...)
	}
	if n := r.decode(batch); n != stageEvents {
		t.Fatalf("staging buffer: decoded %d, want %d", n, stageEvents)
	}
	for i, ev := range r.pending {
		if ev.Time != uint64(i+1) {
			t.Fatalf("event %d has time %d", i, ev.Time)
		}
	}
	if r.pending[1].Packet != "\x45\x00\x01" {
		t.Fatalf("capture decoded as %q", r.pending[1].Packet)
	}
	if (EventSize+captureSize)%EventSize == 0 {
		t.Fatal("a capture record would read as a staging buffer")
	}
}

// TestStageHead checks that the reader finds a buffer's oldest event where
// an interrupted program staged it after a newer one.
func TestStageHead(t *testing.T) {
	var st bpf.PktlifeStage
	st.N = 3
	st.Ev[0].Ts, st.Ev[1].Ts, st.Ev[2].Ts, st.Ev[3].Ts = 50, 40, 60, 10 // slot 3 is not staged
	var h stageHead
	if err := h.UnmarshalBinary(unsafe.Slice((*byte)(unsafe.Pointer(&st)), unsafe.Sizeof(st))); err != nil {
		t.Fatal(err)
	}
	if h.n != 3 || h.oldest != 40 {
		t.Fatalf("head: %d staged, oldest %d; want 3, 40", h.n, h.oldest)
	}
}
