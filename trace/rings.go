package trace

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/ringbuf"
	"golang.org/x/sys/unix"

	"github.com/pktlife/pktlife/trace/journey"
)

// ringSlack is how long after taking its timestamp a BPF program may still
// be writing its event. Events younger than that when a round of reading
// starts wait for the next round, so that an event a slow CPU commits late
// is not handed out after a later one.
//
// Staged events (staging.go) can wait in their CPU's buffer far longer,
// until it fills or until the reader flushes it, but that does not widen
// the horizon: before reading, each round flushes every CPU whose oldest
// staged event is older than the horizon, and where a flush fails (the
// buffer's writer stayed busy) the round hands out only what is older than
// that CPU's oldest staged event.
const ringSlack = 2 * time.Millisecond

// ringReader reads the per-CPU ring buffers and hands out their events in
// time order: one packet's hops may be written by several CPUs.
type ringReader struct {
	readers []*ringbuf.Reader
	stage   *stager // nil without per-CPU staging
	epfd    int
	closed  atomic.Bool
	rec     ringbuf.Record
	pending []journey.Event // read, not yet handed out; sorted by time after each round
}

func newRingReader(rings []*ebpf.Map, stage *stager) (_ *ringReader, err error) {
	r := &ringReader{epfd: -1, stage: stage}
	defer func() {
		if err != nil {
			r.Close()
		}
	}()
	if r.epfd, err = unix.EpollCreate1(unix.EPOLL_CLOEXEC); err != nil {
		return nil, fmt.Errorf("create epoll: %w", err)
	}
	for i, m := range rings {
		rd, err := ringbuf.NewReader(m)
		if err != nil {
			return nil, fmt.Errorf("open ring %d: %w", i, err)
		}
		r.readers = append(r.readers, rd)
		ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(i)}
		if err := unix.EpollCtl(r.epfd, unix.EPOLL_CTL_ADD, m.FD(), &ev); err != nil {
			return nil, fmt.Errorf("poll ring %d: %w", i, err)
		}
	}
	return r, nil
}

// Close closes the readers; a wait in progress returns at its timeout.
func (r *ringReader) Close() error {
	if r.closed.Swap(true) {
		return nil
	}
	var errs []error
	for _, rd := range r.readers {
		errs = append(errs, rd.Close())
	}
	if r.epfd >= 0 {
		errs = append(errs, unix.Close(r.epfd))
	}
	return errors.Join(errs...)
}

// wait blocks until a ring wakes the reader or the timeout passes.
func (r *ringReader) wait(timeout time.Duration) error {
	var evs [8]unix.EpollEvent
	for {
		_, err := unix.EpollWait(r.epfd, evs[:], int(timeout.Milliseconds()))
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil && r.closed.Load() {
			return ringbuf.ErrClosed
		}
		return err
	}
}

// drain reads what every ring holds now into pending and returns how many
// events it read.
func (r *ringReader) drain() (int, error) {
	if r.closed.Load() {
		return 0, ringbuf.ErrClosed
	}
	n := 0
	for _, rd := range r.readers {
		rd.SetDeadline(time.Now()) // read what is there, do not wait
		for {
			err := rd.ReadInto(&r.rec)
			if errors.Is(err, os.ErrDeadlineExceeded) {
				break
			}
			if err != nil {
				return n, err
			}
			n += r.decode(r.rec.RawSample)
		}
	}
	r.sort()
	return n, nil
}

// decode appends a record's events to pending: one event (with its
// capture, when capture is on), or a staging buffer's events one after
// another.
func (r *ringReader) decode(raw []byte) int {
	k := 1
	if len(raw) > EventSize && len(raw)%EventSize == 0 {
		k = len(raw) / EventSize
	}
	n := 0
	for i := range k {
		r.pending = append(r.pending, journey.Event{})
		rec := raw
		if k > 1 {
			rec = raw[i*EventSize : (i+1)*EventSize]
		}
		if Decode(rec, &r.pending[len(r.pending)-1]) {
			n++
		} else {
			r.pending = r.pending[:len(r.pending)-1]
		}
	}
	return n
}

// round writes out the events CPUs hold staged since before horizon, then
// reads every ring. It returns the time before which pending then holds
// every event (ringSlack's comment), and how many events it read.
func (r *ringReader) round(horizon uint64) (uint64, int, error) {
	if r.closed.Load() {
		return 0, 0, ringbuf.ErrClosed
	}
	complete, err := r.stage.flush(horizon)
	if err != nil {
		return 0, 0, err
	}
	n, err := r.drain()
	return complete, n, err
}

// sort orders pending by time. Each ring is nearly in order already (a
// program interrupted between its clock read and its write can come after
// a later one); often all of pending is.
func (r *ringReader) sort() {
	if !slices.IsSortedFunc(r.pending, byTime) {
		slices.SortStableFunc(r.pending, byTime)
	}
}

func byTime(a, b journey.Event) int { return cmp.Compare(a.Time, b.Time) }

// capacity is the bytes all rings hold together.
func (r *ringReader) capacity() int {
	n := 0
	for _, rd := range r.readers {
		n += rd.BufferSize()
	}
	return n
}

// release hands fn the pending events older than before, in time order,
// and returns how many.
func (r *ringReader) release(before uint64, fn func(*journey.Event)) int {
	i := 0
	for i < len(r.pending) && r.pending[i].Time < before {
		fn(&r.pending[i])
		i++
	}
	if i > 0 {
		rest := copy(r.pending, r.pending[i:])
		clear(r.pending[rest:])
		r.pending = r.pending[:rest]
	}
	return i
}

// ringSize is the size of each CPU's ring for a total of total bytes: a
// power of two, at least a page, and at least 256 KiB when the total allows
// it, so that a burst on one CPU has room.
func ringSize(total, ncpu int) int {
	floor := min(total, 256<<10)
	per := max(total/max(ncpu, 1), floor, os.Getpagesize())
	size := os.Getpagesize()
	for size*2 <= per {
		size *= 2
	}
	return size
}

// onlineCPUs lists the CPUs online now, from sysfs; all ncpu possible ones
// when that cannot be read.
func onlineCPUs(ncpu int) []int {
	b, err := os.ReadFile("/sys/devices/system/cpu/online")
	if err == nil {
		if cpus, ok := parseCPUList(strings.TrimSpace(string(b)), ncpu); ok {
			return cpus
		}
	}
	cpus := make([]int, ncpu)
	for i := range cpus {
		cpus[i] = i
	}
	return cpus
}

// parseCPUList parses the kernel's CPU list format ("0-3,5,7-8"), keeping
// CPUs below ncpu.
func parseCPUList(s string, ncpu int) ([]int, bool) {
	var cpus []int
	for part := range strings.SplitSeq(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil {
			return nil, false
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a {
				return nil, false
			}
		}
		for c := a; c <= b && c < ncpu; c++ {
			cpus = append(cpus, c)
		}
	}
	return cpus, len(cpus) > 0
}
