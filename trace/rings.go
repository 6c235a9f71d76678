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
const ringSlack = 2 * time.Millisecond

// ringReader reads the per-CPU ring buffers and hands out their events in
// time order: one packet's hops may be written by several CPUs.
type ringReader struct {
	readers []*ringbuf.Reader
	epfd    int
	closed  atomic.Bool
	rec     ringbuf.Record
	pending []journey.Event // read, not yet handed out; sorted by time after each round
}

func newRingReader(rings []*ebpf.Map) (_ *ringReader, err error) {
	r := &ringReader{epfd: -1}
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
			r.pending = append(r.pending, journey.Event{})
			if Decode(r.rec.RawSample, &r.pending[len(r.pending)-1]) {
				n++
			} else {
				r.pending = r.pending[:len(r.pending)-1]
			}
		}
	}
	r.sort()
	return n, nil
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
