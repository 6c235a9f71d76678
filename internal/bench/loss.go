package bench

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/pktlife/pktlife/trace"
)

// LossResult accounts for every event of a flood traced with a ring that
// is too small: each one the kernel tried to write was either read or
// counted lost.
type LossResult struct {
	RingSize int
	Flood    FloodResult
	Read     uint64               // events the tracer read from the ring
	Kernel   trace.KernelCounters // what the kernel says it wrote and lost
	// HopsPerPacket is the events per packet of the same flood at a rate
	// the ring keeps up with (calibration): what every flood packet costs
	// in events when nothing is lost.
	HopsPerPacket float64
	// Drained says the reader caught up with the kernel (Read == Emitted)
	// before the deadline.
	Drained bool
}

// Attempts is what the kernel tried to write: emitted or lost.
func (r LossResult) Attempts() uint64 { return r.Kernel.Emitted + r.Kernel.Lost }

// Expected is the flood's packets times the calibrated hops per packet.
func (r LossResult) Expected() float64 { return float64(r.Flood.Sent) * r.HopsPerPacket }

// LossOptions configure MeasureLoss.
type LossOptions struct {
	RingSize int          // bytes; 0 = 64 KiB (about 450 events)
	Flood    FloodOptions // the overload; Rate 0 = as fast as the senders go
	// Calibrate is the paced flood that measures hops per packet;
	// zero = 2000 packets/s for 1 s.
	Calibrate FloodOptions
	Drain     time.Duration // how long the reader may take to catch up; 0 = 10 s
}

// MeasureLoss calibrates hops per packet with a slow flood and a large
// ring, then floods as fast as the senders go into a small ring and waits
// for the reader to catch up with the kernel.
func MeasureLoss(ctx context.Context, env *Env, o LossOptions) (LossResult, error) {
	if o.RingSize == 0 {
		o.RingSize = 64 << 10
	}
	if o.Calibrate.Rate == 0 {
		o.Calibrate.Rate, o.Calibrate.Duration = 2000, time.Second
	}
	if o.Drain == 0 {
		o.Drain = 10 * time.Second
	}
	res := LossResult{RingSize: o.RingSize}
	cal, err := tracedFlood(ctx, env, 0, o.Calibrate, o.Drain)
	if err != nil {
		return res, fmt.Errorf("calibrate: %w", err)
	}
	if cal.Kernel.Lost != 0 || !cal.Drained || cal.Flood.Sent == 0 {
		return res, fmt.Errorf("calibrate: a slow flood should lose nothing: sent %d, emitted %d, lost %d, read %d",
			cal.Flood.Sent, cal.Kernel.Emitted, cal.Kernel.Lost, cal.Read)
	}
	hops := float64(cal.Kernel.Emitted) / float64(cal.Flood.Sent)
	res, err = tracedFlood(ctx, env, o.RingSize, o.Flood, o.Drain)
	res.HopsPerPacket = hops
	return res, err
}

// tracedFlood floods under the match-everything tracer with the given
// ring and waits until the reader has read all the kernel emitted.
func tracedFlood(ctx context.Context, env *Env, ring int, fo FloodOptions, drain time.Duration) (_ LossResult, err error) {
	res := LossResult{RingSize: ring}
	opts, err := env.TracerOptions(MatchAll)
	if err != nil {
		return res, err
	}
	opts.RingSize = ring
	t, err := StartTracer(opts)
	if err != nil {
		return res, err
	}
	defer func() { err = errors.Join(err, t.Stop()) }()
	if res.Flood, err = env.Flood(ctx, fo); err != nil {
		return res, err
	}
	// The flood is over; the reader catches up. The kernel counts an
	// event emitted just after submitting it, so Read may run ahead of
	// Emitted for a moment, never behind it once drained.
	deadline := time.Now().Add(drain)
	for {
		res.Kernel = t.Tracer.KernelCounters()
		res.Read = t.Tracer.Stats().Events
		if res.Read == res.Kernel.Emitted {
			// stable: read again after a pause to be sure nothing is in flight
			time.Sleep(50 * time.Millisecond)
			k, r := t.Tracer.KernelCounters(), t.Tracer.Stats().Events
			if k == res.Kernel && r == res.Read {
				res.Drained = true
				return res, nil
			}
			continue
		}
		if time.Now().After(deadline) {
			return res, nil
		}
		time.Sleep(10 * time.Millisecond)
	}
}
