package trace

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/cilium/ebpf/ringbuf"

	"github.com/pktlife/pktlife/trace/journey"
)

// Run reads events until ctx is done or emit returns false, feeding the
// correlator; each finished journey goes to emit, which owns it: it may
// keep it, or release it (journey.Journey.Release) once written, for the
// correlator to reuse. Journeys still open when Run returns are flushed to
// emit.
func (t *Tracer) Run(ctx context.Context, emit func(*journey.Journey) bool) error {
	stop := false
	c := journey.New(journey.Options{
		Idle:        t.opts.Idle,
		MaxInFlight: t.opts.MaxInFlight,
		Resolver:    t.names,
		Annotations: t.annotations(),
		Emit: func(j *journey.Journey) {
			t.journeys.Add(1)
			if !stop && !emit(j) {
				stop = true
			}
		},
	})
	defer func() {
		c.Flush()
		t.evicted.Store(c.Stats().Evicted)
		t.inflight.Store(0)
	}()
	return t.read(ctx, func(ev *journey.Event) { c.Add(ev) }, c, &stop)
}

// Record reads events like RunEvents and, when ctx ends, returns them with
// the names they refer to, resolved meanwhile: a stream that replays through
// journey.New without a kernel.
func (t *Tracer) Record(ctx context.Context) (*journey.Static, []journey.Event, error) {
	var evs []journey.Event
	reasons := map[uint32]bool{}
	err := t.RunEvents(ctx, func(ev *journey.Event) bool {
		evs = append(evs, *ev)
		// resolve now, while devices and programs still exist
		t.names.Device(ev.Netns, ev.Ifindex)
		switch ev.Hook {
		case journey.HookTCIngress, journey.HookTCEgress:
			t.names.Progs(ev.Netns, ev.Ifindex, ev.Hook)
		case journey.HookKfreeSkb:
			reasons[ev.Reason] = true
		case journey.HookTailCall:
			t.names.Prog(ev.ProgID)
			t.names.Map(ev.MapID)
		}
		return true
	})
	return t.names.snapshot(reasons), evs, err
}

// RunEvents reads events until ctx is done or fn returns false, handing
// each decoded event to fn without correlating them (for recording streams).
func (t *Tracer) RunEvents(ctx context.Context, fn func(*journey.Event) bool) error {
	stop := false
	return t.read(ctx, func(ev *journey.Event) {
		if !stop && !fn(ev) {
			stop = true
		}
	}, nil, &stop)
}

// read is the hot loop. Each round waits for a wakeup or the tick, reads
// every CPU's ring, and hands out in time order the events old enough that
// no CPU can still be writing an older one (ringSlack).
func (t *Tracer) read(ctx context.Context, add func(*journey.Event), c *journey.Correlator, stop *bool) error {
	// Each CPU wakes the reader only at every eighth of its ring (see
	// wake_events in bpf/pktlife.c): the tick is how long a trickle of
	// events may wait.
	const tick = 50 * time.Millisecond
	r := t.reader
	hand := func(ev *journey.Event) {
		if !*stop {
			t.events.Add(1)
			add(ev)
		}
	}
	// Stopping, the rings are read until empty, but a busy kernel keeps
	// writing: at most all of them once over.
	budget := r.capacity() / EventSize
	draining := false
	for !*stop {
		if !draining && ctx.Err() != nil {
			draining = true
		}
		if !draining {
			if err := r.wait(tick); err != nil {
				if errors.Is(err, ringbuf.ErrClosed) {
					return nil
				}
				return fmt.Errorf("wait for ring buffers: %w", err)
			}
		}
		horizon := monotonicNow() - uint64(ringSlack)
		if draining {
			horizon = math.MaxUint64
		}
		complete, n, err := r.round(horizon) // every event before complete is handed out
		if errors.Is(err, ringbuf.ErrClosed) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read ring buffer: %w", err)
		}
		if draining {
			if budget -= n; n == 0 || budget <= 0 {
				r.release(math.MaxUint64, hand)
				return nil
			}
			continue
		}
		r.release(complete, hand)
		if c == nil {
			continue
		}
		// Timeouts run on the time the event stream is complete up to, not
		// the wall clock: an event held back for the merge must not find
		// its journey closed (DeliverGrace is shorter than a tick).
		c.Expire(complete)
		s := c.Stats()
		t.evicted.Store(s.Evicted)
		t.inflight.Store(int64(s.InFlight))
	}
	return nil
}
