package trace

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"sync/atomic"

	"github.com/cilium/ebpf"

	"github.com/pktlife/pktlife/bpf"
	"github.com/pktlife/pktlife/trace/journey"
	"github.com/pktlife/pktlife/trace/tailcall"
)

// Attachment reports one hop on one place: attached or not, and why.
type Attachment struct {
	Hop       string // hop name
	Where     string // device@netns for tc, the tracepoint otherwise
	Mechanism string // tcx, clsact, tp_btf, raw_tp
	Err       error  // nil when attached
}

// Stats are the tracer's counters; safe to read while it runs.
type Stats struct {
	Events   uint64 // events read from the ringbuf
	Lost     uint64 // events the kernel could not write (ringbuf full)
	Matched  uint64 // packets that matched the filter and were followed
	Skipped  uint64 // packets that matched but were not followed: over MaxRate
	Journeys uint64 // journeys emitted
	Evicted  uint64 // journeys closed early by the in-flight cap
	InFlight int
}

// Tracer follows packets through the kernel. It composes the pipeline's
// stages: backends attach (backend*.go), the ring reader reads and decodes
// (rings.go), the correlator and annotate stage make journeys (journey.New,
// in Run) for the caller's emit function.
type Tracer struct {
	opts     Options
	objs     *objects
	netns    []*nsHandle
	closers  []io.Closer  // in attach order; closed in reverse
	attached []Attachment // what the backends reported
	ownIDs   []ebpf.ProgramID
	reader   *ringReader
	names    *names
	// tailCalls traces tail calls as Options.TailCalls says; nil for none.
	tailCalls tailcall.Tracer

	final [bpf.PktlifePlStatPL_STAT_MAX]uint64 // kernel counters at Close

	events   atomic.Uint64
	journeys atomic.Uint64
	evicted  atomic.Uint64
	inflight atomic.Int64
}

// ErrNothingAttached is returned when no hop could be attached at all.
var ErrNothingAttached = errors.New("no hop could be attached")

// New loads pktlife's programs and attaches them. Hops that cannot be
// attached are reported in Attached, not fatal; a bad option is.
func New(opts Options) (_ *Tracer, err error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	setDefaults(&opts)
	hops, err := selectHops(opts.Hops)
	if err != nil {
		return nil, err
	}
	t := &Tracer{opts: opts}
	defer func() {
		if err != nil {
			t.Close()
		}
	}()
	if t.netns, err = openAll(opts.Netns); err != nil {
		return nil, err
	}
	devs, err := selectDevices(t.netns, opts.Ifaces)
	if err != nil {
		return nil, err
	}
	bs, err := newBackends(&t.opts, devs)
	if err != nil {
		return nil, err
	}
	t.opts.matchNetns = len(opts.Netns) > 0
	t.opts.matchDevices = len(opts.Ifaces) > 0
	if t.objs, err = loadObjects(&t.opts); err != nil {
		return nil, err
	}
	t.names = newNames(t.objs.btf, t.netns, t.opts.NetnsLabels)
	if err := t.fillMatch(devs); err != nil {
		return nil, err
	}
	// The reader exists before anything attaches, so no event is missed.
	if t.reader, err = newRingReader(t.objs.rings, t.objs.stage); err != nil {
		return nil, fmt.Errorf("open ring buffers: %w", err)
	}
	if err := t.attach(bs, hops); err != nil {
		return nil, err
	}
	if err := t.setupTailCalls(); err != nil {
		return nil, err
	}
	// Only now, with every hop in place (shims included), may a packet
	// start a journey.
	if err := t.objs.arm(); err != nil {
		return nil, err
	}
	return t, nil
}

// openAll opens the namespaces at paths; none means the current one.
func openAll(paths []string) ([]*nsHandle, error) {
	if len(paths) == 0 {
		paths = []string{""}
	}
	var out []*nsHandle
	for _, p := range paths {
		h, err := openNetns(p)
		if err != nil {
			for _, o := range out {
				o.Close()
			}
			return nil, err
		}
		out = append(out, h)
	}
	return out, nil
}

// fillMatch tells the kernel side which devices and namespaces packets
// must first be seen on, when the options select some.
func (t *Tracer) fillMatch(devs []device) error {
	if t.opts.matchDevices {
		for _, d := range devs {
			k := bpf.PktlifeDevkey{Netns: d.ns.inode, Ifindex: uint32(d.link.Attrs().Index)}
			if err := t.objs.maps.MatchDevs.Put(k, uint8(1)); err != nil {
				return fmt.Errorf("add device %s to filter: %w", d.link.Attrs().Name, err)
			}
		}
	}
	if t.opts.matchNetns {
		for _, ns := range t.netns {
			if err := t.objs.maps.MatchDevs.Put(bpf.PktlifeDevkey{Netns: ns.inode}, uint8(1)); err != nil {
				return fmt.Errorf("add netns %s to filter: %w", ns.name, err)
			}
		}
	}
	return nil
}

// attach attaches the hops with their backends and takes over what they
// made. It fails only when nothing at all could be attached.
func (t *Tracer) attach(bs backendSet, hops []HopDef) error {
	a := bs.attach(t.objs, hops)
	t.closers = append(t.closers, a.closers...)
	t.attached = append(t.attached, a.reports...)
	t.ownIDs = append(t.ownIDs, a.tcProgs...)
	for _, id := range t.ownIDs {
		t.names.ownProgs[id] = true
	}
	if slices.ContainsFunc(a.reports, func(r Attachment) bool { return r.Err == nil }) {
		return nil
	}
	var first error // every report is a failure
	if len(a.reports) > 0 {
		first = a.reports[0].Err
	}
	return fmt.Errorf("attach hops: %w", errors.Join(ErrNothingAttached, first))
}

// Attached lists what was attached and what was not, with reasons.
func (t *Tracer) Attached() []Attachment { return slices.Clone(t.attached) }

// annotations are the tracer's own annotate steps, after journey's: the
// node's name, then the tail-call mode's chains.
func (t *Tracer) annotations() []journey.Annotation {
	out := []journey.Annotation{journey.AnnotationFunc(func(j *journey.Journey) { j.Node = t.names.host })}
	if t.tailCalls != nil {
		out = append(out, t.tailCalls)
	}
	return out
}

// Resolver returns the tracer's names for devices, programs and reasons.
func (t *Tracer) Resolver() journey.Resolver { return t.names }

// Stats returns the counters. Safe to call while Run runs.
func (t *Tracer) Stats() Stats {
	s := Stats{
		Events:   t.events.Load(),
		Journeys: t.journeys.Load(),
		Evicted:  t.evicted.Load(),
		InFlight: int(t.inflight.Load()),
	}
	s.Lost = t.kernelStat(bpf.PktlifePlStatPL_STAT_LOST)
	s.Matched = t.kernelStat(bpf.PktlifePlStatPL_STAT_MATCHED)
	s.Skipped = t.kernelStat(bpf.PktlifePlStatPL_STAT_RATE_SKIPPED)
	return s
}

// kernelStat sums a per-CPU counter; after Close, its value at Close.
func (t *Tracer) kernelStat(idx bpf.PktlifePlStat) uint64 {
	if t.objs == nil {
		return t.final[idx]
	}
	var per []uint64
	if err := t.objs.maps.Stats.Lookup(uint32(idx), &per); err != nil {
		return 0
	}
	var sum uint64
	for _, v := range per {
		sum += v
	}
	return sum
}

// Close detaches everything in reverse order of attaching. Safe to call
// twice.
func (t *Tracer) Close() error {
	var errs []error
	if t.reader != nil {
		t.reader.Close() // Run, if it runs, returns within its tick
	}
	for i := len(t.closers) - 1; i >= 0; i-- {
		if err := t.closers[i].Close(); err != nil {
			errs = append(errs, err)
		}
	}
	t.closers = nil
	if t.objs != nil {
		// The summary is written after Close: keep the kernel's counters.
		for i := range t.final {
			t.final[i] = t.kernelStat(bpf.PktlifePlStat(i))
		}
		if err := t.objs.Close(); err != nil {
			errs = append(errs, err)
		}
		t.objs = nil
	}
	if t.names != nil {
		t.names.Close()
	}
	for _, h := range t.netns {
		h.Close()
	}
	t.netns = nil
	return errors.Join(errs...)
}
