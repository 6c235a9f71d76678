package trace

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/ringbuf"
	"github.com/vishvananda/netlink"

	"github.com/pktlife/pktlife/bpf"
	"github.com/pktlife/pktlife/trace/journey"
)

// Options configure a Tracer.
type Options struct {
	Filter Filter
	// Netns lists the namespaces whose devices get tc observers: paths, or
	// names under /run/netns. Empty means the current namespace. When set,
	// packets must also first be seen in one of them to match (namespaces
	// may reuse the same addresses).
	Netns []string
	// Ifaces are globs selecting the devices that get tc observers. Empty
	// means every device but loopback. When set, packets must first be seen
	// on one of them to match.
	Ifaces []string
	// Hops names the hops to attach (see Hops); empty means the default set.
	Hops []string
	// LegacyTC attaches tc observers with clsact+cls_bpf even where tcx works.
	LegacyTC bool
	// KfuncBackend forces the backend of kernel-function hops: MechFentry
	// or MechKprobe; empty picks the best that works.
	KfuncBackend string
	// TailCalls says how tail calls are traced: TailCallsAuto (""),
	// TailCallsInterpose, TailCallsPassive or TailCallsOff.
	TailCalls string

	// MaxRate bounds how many new packets per second are followed, over
	// all CPUs (each CPU gets its share, with up to 100 ms of credit);
	// packets over it are counted in Stats.Skipped and never reported. It
	// bounds what tracing a flood costs the node. 0 = no limit.
	MaxRate int

	// HooksOnly attaches every hop with observers that return at once:
	// nothing is parsed or reported. It measures what the hooks alone cost
	// the datapath (internal/bench).
	HooksOnly bool

	// RingSize is the ring buffer bytes over all online CPUs; each CPU's
	// ring is its share rounded down to a power of two, and at least
	// min(RingSize, 256 KiB). 0 = 8 MiB.
	RingSize    int
	MaxTracked  int           // skbs followed at once in the kernel; 0 = 65536
	TrackIdle   time.Duration // a tracked skb silent this long is forgotten; 0 = 1 s
	Idle        time.Duration // journey idle timeout; 0 = 2 s
	MaxInFlight int           // journeys open at once; 0 = 65536
	// StateDir holds the interposition lock, restore journal and pins;
	// empty means DefaultStateDir. A tool that interposes only on
	// datapaths it owns (the demo) may use its own, so it never waits for
	// or disturbs another pktlife.
	StateDir string

	// matchDevices and matchNetns are derived from Ifaces and Netns.
	matchDevices bool
	matchNetns   bool
	// ignoreTailCallBudget skips the interposer's budget check (tests only).
	ignoreTailCallBudget bool
}

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

// Tracer follows packets through the kernel.
type Tracer struct {
	opts     Options
	objs     *objects
	netns    []*nsHandle
	closers  []io.Closer // in attach order; closed in reverse
	attached []Attachment
	ownIDs   []ebpf.ProgramID
	reader   *ringReader
	kprobes  map[string]*ebpf.Program // shared kprobe programs, by name
	kfuncErr map[string]error         // kernel-function backends known not to work
	names    *names
	interp   *interposer // tail-call shims, with TailCallsInterpose
	passive  *passive    // fentry/fexit on entry programs, with TailCallsPassive
	noticed  int         // interp notices already returned

	final [bpf.PktlifePlStatPL_STAT_MAX]uint64 // kernel counters at Close

	events   atomic.Uint64
	journeys atomic.Uint64
	evicted  atomic.Uint64
	inflight atomic.Int64
}

// ErrBadOption wraps errors in Options (an unknown hop, a bad glob).
var ErrBadOption = errors.New("bad option")

// ErrNothingAttached is returned when no hop could be attached at all.
var ErrNothingAttached = errors.New("no hop could be attached")

// New loads pktlife's programs and attaches them. Hops that cannot be
// attached are reported in Attached, not fatal; a bad option is.
func New(opts Options) (_ *Tracer, err error) {
	if err := opts.Filter.Validate(); err != nil {
		return nil, err
	}
	if _, err := os.Stat("/sys/kernel/btf/vmlinux"); err != nil {
		return nil, errNoKernelBTF
	}
	if opts.MaxRate < 0 {
		return nil, fmt.Errorf("invalid max rate %d: want packets per second, 0 for no limit", opts.MaxRate)
	}
	setDefaults(&opts)
	if err := checkTailCallMode(opts.TailCalls); err != nil {
		return nil, err
	}
	hops, err := selectHops(opts.Hops)
	if err != nil {
		return nil, err
	}

	t := &Tracer{opts: opts, names: newNames(), kfuncErr: map[string]error{}}
	switch opts.KfuncBackend {
	case "":
	case MechFentry:
		t.kfuncErr[MechKprobe] = errors.New("not selected (--kfunc-backend fentry)")
	case MechKprobe:
		t.kfuncErr[MechFentry] = errors.New("not selected (--kfunc-backend kprobe)")
		t.kfuncErr[MechKprobeMulti] = errors.New("not selected (--kfunc-backend kprobe)")
	case MechKprobeMulti:
		t.kfuncErr[MechFentry] = errors.New("not selected (--kfunc-backend kprobe.multi)")
	default:
		return nil, fmt.Errorf("select kernel-function backend %q: want fentry, kprobe.multi or kprobe: %w", opts.KfuncBackend, ErrBadOption)
	}
	defer func() {
		if err != nil {
			t.Close()
		}
	}()

	paths := opts.Netns
	if len(paths) == 0 {
		paths = []string{""}
	}
	for _, p := range paths {
		h, err := openNetns(p)
		if err != nil {
			return nil, err
		}
		t.netns = append(t.netns, h)
		t.names.addNetns(h)
	}
	t.opts.matchNetns = len(opts.Netns) > 0
	devs, err := t.selectDevices()
	if err != nil {
		return nil, err
	}
	t.opts.matchDevices = len(opts.Ifaces) > 0

	if t.objs, err = loadObjects(&t.opts.Filter, &t.opts); err != nil {
		return nil, err
	}
	if t.opts.matchDevices {
		for _, d := range devs {
			k := bpf.PktlifeDevkey{Netns: d.ns.inode, Ifindex: uint32(d.link.Attrs().Index)}
			if err := t.objs.maps.MatchDevs.Put(k, uint8(1)); err != nil {
				return nil, fmt.Errorf("add device %s to filter: %w", d.link.Attrs().Name, err)
			}
		}
	}
	if t.opts.matchNetns {
		for _, ns := range t.netns {
			if err := t.objs.maps.MatchDevs.Put(bpf.PktlifeDevkey{Netns: ns.inode}, uint8(1)); err != nil {
				return nil, fmt.Errorf("add netns %s to filter: %w", ns.name, err)
			}
		}
	}
	// The reader exists before anything attaches, so no event is missed.
	if t.reader, err = newRingReader(t.objs.rings); err != nil {
		return nil, fmt.Errorf("open ring buffers: %w", err)
	}
	var kfuncs []HopDef
	for _, h := range hops {
		switch h.Kind {
		case KindTracepoint:
			t.attachTracepoint(h)
		case KindTC:
			t.attachTCHop(h, devs)
		case KindSocket:
			t.attachSocketHop(h)
		case KindKfunc:
			kfuncs = append(kfuncs, h)
		}
	}
	t.attachKfuncs(kfuncs)
	if !slices.ContainsFunc(t.attached, func(a Attachment) bool { return a.Err == nil }) {
		return nil, fmt.Errorf("attach hops: %w", errors.Join(ErrNothingAttached, t.firstError()))
	}
	for _, id := range t.ownIDs {
		t.names.ownProgs[id] = true
	}
	if err := t.setupTailCalls(); err != nil {
		return nil, err
	}
	return t, nil
}

func setDefaults(o *Options) {
	if o.RingSize == 0 {
		o.RingSize = 8 << 20
	}
	if o.MaxTracked == 0 {
		o.MaxTracked = 65536
	}
	if o.TrackIdle == 0 {
		o.TrackIdle = time.Second
	}
	if o.Idle == 0 {
		o.Idle = 2 * time.Second
	}
	if o.MaxInFlight == 0 {
		o.MaxInFlight = 65536
	}
	if o.TailCalls == "" {
		o.TailCalls = TailCallsAuto
	}
}

func (t *Tracer) firstError() error {
	for _, a := range t.attached {
		if a.Err != nil {
			return a.Err
		}
	}
	return nil
}

type device struct {
	ns   *nsHandle
	link netlink.Link
}

// ErrNoDevice is returned when an interface glob matches nothing.
var ErrNoDevice = errors.New("no such interface")

// selectDevices lists the devices matching Ifaces in each namespace.
func (t *Tracer) selectDevices() ([]device, error) {
	var out []device
	matched := make([]bool, len(t.opts.Ifaces))
	for _, ns := range t.netns {
		links, err := ns.nl.LinkList()
		if err != nil {
			return nil, fmt.Errorf("list devices in %s: %w", ns.name, err)
		}
		for _, l := range links {
			name := l.Attrs().Name
			if len(t.opts.Ifaces) == 0 {
				if l.Attrs().Flags&net.FlagLoopback == 0 {
					out = append(out, device{ns, l})
				}
				continue
			}
			for i, g := range t.opts.Ifaces {
				if ok, _ := filepath.Match(g, name); ok {
					matched[i] = true
					out = append(out, device{ns, l})
					break
				}
			}
		}
	}
	for i, g := range t.opts.Ifaces {
		if _, err := filepath.Match(g, ""); err != nil {
			return nil, fmt.Errorf("parse interface glob %q: %w: %w", g, ErrBadOption, err)
		}
		if !matched[i] {
			return nil, fmt.Errorf("select interface %q: %w", g, ErrNoDevice)
		}
	}
	return out, nil
}

func (t *Tracer) attachTracepoint(h HopDef) {
	a := Attachment{Hop: h.Name, Where: h.tracepoint, Mechanism: "tp_btf"}
	prog, err := t.objs.loadProgram(h.tpProg)
	var lk link.Link
	if err == nil {
		lk, err = link.AttachTracing(link.TracingOptions{Program: prog})
		if err != nil {
			prog.Close()
		}
	}
	if err != nil {
		// A kernel without tp_btf may still have raw tracepoints.
		a.Mechanism = "raw_tp"
		prog, rerr := t.objs.loadProgram(h.rawProg)
		if rerr == nil {
			lk, rerr = link.AttachRawTracepoint(link.RawTracepointOptions{Name: h.tracepoint, Program: prog})
			if rerr != nil {
				prog.Close()
			}
		}
		if rerr != nil {
			a.Mechanism = "tp_btf"
			a.Err = fmt.Errorf("attach tracepoint %s: %w", h.tracepoint, err)
			t.attached = append(t.attached, a)
			return
		}
		t.closers = append(t.closers, prog)
	} else {
		t.closers = append(t.closers, prog)
	}
	t.closers = append(t.closers, lk)
	t.attached = append(t.attached, a)
}

func (t *Tracer) attachTCHop(h HopDef, devs []device) {
	prog, err := t.objs.loadProgram(tcProg(h))
	if err != nil {
		t.attached = append(t.attached, Attachment{Hop: h.Name, Where: "all devices", Err: err})
		return
	}
	t.closers = append(t.closers, prog)
	if info, err := prog.Info(); err == nil {
		if id, ok := info.ID(); ok {
			t.ownIDs = append(t.ownIDs, id)
		}
	}
	for _, d := range devs {
		where := d.link.Attrs().Name + "@" + d.ns.name
		o, err := attachTC(d.ns, d.link, prog, h.ingress, t.opts.LegacyTC)
		if err != nil {
			t.attached = append(t.attached, Attachment{Hop: h.Name, Where: where, Err: err})
			continue
		}
		t.closers = append(t.closers, o)
		t.attached = append(t.attached, Attachment{Hop: h.Name, Where: where, Mechanism: o.mech})
	}
}

// Attached lists what was attached and what was not, with reasons.
func (t *Tracer) Attached() []Attachment { return slices.Clone(t.attached) }

// annotations are the tracer's own annotate steps, after journey's: the
// node's name, then the tail-call mode's chains.
func (t *Tracer) annotations() []journey.Annotation {
	out := []journey.Annotation{journey.AnnotationFunc(func(j *journey.Journey) { j.Node = t.names.host })}
	if t.interp != nil {
		out = append(out, t.interp)
	}
	if t.passive != nil {
		out = append(out, t.passive)
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

// Run reads events until ctx is done or emit returns false, feeding the
// correlator; each finished journey goes to emit. Journeys still open when
// Run returns are flushed to emit.
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
		start := monotonicNow()
		n, err := r.drain()
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
		complete := start - uint64(ringSlack) // every event before this is handed out
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
