package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"time"

	"github.com/pktlife/pktlife/check"
	"github.com/pktlife/pktlife/demo"
	"github.com/pktlife/pktlife/trace"
	"github.com/pktlife/pktlife/trace/journey"
)

// Options configure Check and Record. The spec says most things; these
// override or add to it.
type Options struct {
	// DemoDatapath configures the demo datapath of a `demo: true` spec.
	DemoDatapath demo.DatapathOptions
	// DemoPrefix starts the demo's namespace names; "" = demo.DefaultPrefix.
	DemoPrefix string
	// Prepare runs after the demo datapath is loaded and before tracing
	// starts; tests break the datapath here.
	Prepare func(*DemoEnv) error
	// LegacyTC attaches with clsact+cls_bpf even if the spec does not say so.
	LegacyTC bool
	// TailCalls overrides the spec's tail_calls when not empty.
	TailCalls string
	// Timeout overrides the spec's timeout when positive.
	Timeout time.Duration
	// Log receives a line per probe sent; nil discards them.
	Log io.Writer
	// OnAttached, when set, is told what the tracer attached.
	OnAttached func([]trace.Attachment)
	// WaitBusy is how long to wait for another pktlife that is interposing
	// tail calls (only one may at a time) before giving up; 0 = not at all.
	WaitBusy time.Duration
}

// ErrSetup wraps every error that keeps a run from comparing anything: the
// demo could not be built, a namespace does not exist, a probe could not
// be sent, the tracer could not attach.
var ErrSetup = errors.New("setup failed")

func setupError(err error) error { return fmt.Errorf("%w: %w", ErrSetup, err) }

// session is a run in progress: environment, tracer, collected journeys.
type session struct {
	spec    *check.Spec
	opts    Options
	env     *env
	tr      *trace.Tracer
	col     *collector
	stop    context.CancelFunc
	runErr  chan error
	srcs    []netip.Addr                // per probe
	paths   []string                    // per probe: namespace of its sender
	own     func(*journey.Journey) bool // nil, or whether a journey began in our namespaces
	chains  bool                        // tail calls are traced per packet
	mode    string                      // the tail-call mode used
	timeout time.Duration
}

// open sets everything up; the tracer is attached when it returns.
func open(ctx context.Context, s *check.Spec, o Options) (_ *session, err error) {
	ss := &session{spec: s, opts: o, col: newCollector(), timeout: check.DefaultTimeout}
	defer func() {
		if err != nil {
			err = errors.Join(setupError(err), ss.Close())
		}
	}()
	if s.Setup.Timeout > 0 {
		ss.timeout = s.Setup.Timeout
	}
	if o.Timeout > 0 {
		ss.timeout = o.Timeout
	}
	if ss.env, err = setupEnv(ctx, s, &o); err != nil {
		return nil, err
	}
	for i := range s.Probes {
		p := &s.Probes[i]
		path, err := ss.env.netnsPath(p.From.Netns)
		if err != nil {
			return nil, fmt.Errorf("probe %s: from: %w", p.Name, err)
		}
		src := p.From.Addr
		if !src.IsValid() {
			if src, err = sourceAddr(path, p.To.Addr()); err != nil {
				return nil, fmt.Errorf("probe %s: %w", p.Name, err)
			}
		}
		ss.paths = append(ss.paths, path)
		ss.srcs = append(ss.srcs, src)
	}
	if ss.env.demo != nil {
		// Other demos (tests running side by side) use the same addresses:
		// keep to journeys that began in this one's namespaces.
		if ss.own, err = ownedBy(ss.env.demo.Topo.Namespaces()); err != nil {
			return nil, err
		}
	}
	topts, err := ss.traceOptions()
	if err != nil {
		return nil, err
	}
	if ss.tr, err = newTracer(ctx, topts, o.WaitBusy); err != nil {
		return nil, fmt.Errorf("start tracer: %w", err)
	}
	ss.chains = tailCallsTraced(ss.tr.Attached())
	if o.OnAttached != nil {
		o.OnAttached(ss.tr.Attached())
	}
	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	ss.stop = stop
	ss.runErr = make(chan error, 1)
	go func() { ss.runErr <- ss.tr.Run(runCtx, ss.col.add) }()
	return ss, nil
}

// traceOptions derives the tracer's options: observe the spec's (or the
// demo's) namespaces, and follow packets from or to the probes' sources.
func (ss *session) traceOptions() (trace.Options, error) {
	s := ss.spec
	nss, err := ss.env.traceNetns(s)
	if err != nil {
		return trace.Options{}, err
	}
	o := trace.Options{
		Netns:     nss,
		Ifaces:    s.Setup.Ifaces,
		Hops:      s.Setup.Hops,
		LegacyTC:  s.Setup.LegacyTC || ss.opts.LegacyTC,
		TailCalls: s.Setup.TailCalls,
		Idle:      time.Second,
	}
	o.Filter.Expr = s.Setup.Filter
	if ss.opts.TailCalls != "" {
		o.TailCalls = ss.opts.TailCalls
	}
	if len(o.Ifaces) == 0 && ss.env.demo != nil {
		// Match only packets first seen on the demo's own devices: other
		// demos (tests side by side) send from the same addresses, and
		// their packets would crowd the ring buffer.
		o.Ifaces = []string{"*"}
	}
	ss.mode = o.TailCalls
	if host, ok := cover(ss.srcs); ok {
		o.Filter.Host = host
	}
	protos := map[uint8]bool{}
	for i := range s.Probes {
		protos[protoNumber(&s.Probes[i])] = true
	}
	if len(protos) == 1 {
		for p := range protos {
			o.Filter.Proto = p
		}
	}
	return o, nil
}

// newTracer starts the tracer; while another pktlife holds the tail-call
// interposition lock it retries, for at most wait. There is no signal for
// the lock's release to wait on, so it polls.
func newTracer(ctx context.Context, o trace.Options, wait time.Duration) (*trace.Tracer, error) {
	deadline := time.Now().Add(wait)
	for {
		tr, err := trace.New(o)
		if err == nil || !errors.Is(err, trace.ErrInterposeBusy) || time.Now().After(deadline) {
			return tr, err
		}
		select {
		case <-ctx.Done():
			return nil, errors.Join(err, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// ownedBy accepts journeys whose first hop is in one of the namespaces, or
// in an unknown one.
func ownedBy(nss []demo.Netns) (func(*journey.Journey) bool, error) {
	inodes := map[uint32]bool{}
	for _, n := range nss {
		ino, err := n.Inode()
		if err != nil {
			return nil, err
		}
		inodes[ino] = true
	}
	return func(j *journey.Journey) bool {
		if len(j.Hops) == 0 {
			return false
		}
		ns := j.Hops[0].Device.Netns
		return ns == 0 || inodes[ns]
	}, nil
}

// cover returns the smallest prefix holding every address, when they are
// of one family.
func cover(addrs []netip.Addr) (netip.Prefix, bool) {
	if len(addrs) == 0 {
		return netip.Prefix{}, false
	}
	p := netip.PrefixFrom(addrs[0], addrs[0].BitLen())
	for _, a := range addrs[1:] {
		if a.Is4() != p.Addr().Is4() {
			return netip.Prefix{}, false
		}
		for !p.Contains(a) {
			p = netip.PrefixFrom(p.Addr(), p.Bits()-1).Masked()
		}
	}
	return p, true
}

// tailCallsTraced reports whether the tracer follows tail calls per packet.
func tailCallsTraced(as []trace.Attachment) bool {
	for _, a := range as {
		if a.Hop == "tail-calls" && a.Err == nil && a.Mechanism == trace.TailCallsInterpose {
			return true
		}
	}
	return false
}

// probeRun is what one probe did.
type probeRun struct {
	tuple    string
	note     string
	journeys map[check.Packet]*journey.Journey
}

// probe sends probe i and collects the journeys of the wanted packets.
func (ss *session) probe(ctx context.Context, i int, want []check.Packet) (*probeRun, error) {
	p := &ss.spec.Probes[i]
	mark := ss.col.mark()
	f, err := startProbe(ctx, p, ss.paths[i], ss.srcs[i])
	if err != nil {
		return nil, setupError(err)
	}
	t := journey.Tuple{Proto: f.proto, Src: f.local, Dst: f.remote}
	js := waitJourneys(ctx, ss.tr, ss.col, mark, f, want, ss.own, ss.timeout)
	r := &probeRun{tuple: t.String(), journeys: map[check.Packet]*journey.Journey{}}
	wantReply := false
	for _, pk := range want {
		r.journeys[pk] = pick(js, f, pk, ss.own)
		wantReply = wantReply || pk == check.PacketReply
	}
	r.note = f.finish(wantReply)
	if ss.opts.Log != nil {
		fmt.Fprintf(ss.opts.Log, "sent %s: %s (%d journeys)\n", p.Name, r.tuple, len(js))
		for _, j := range js {
			fmt.Fprintf(ss.opts.Log, "  journey %d: %s, %d hops, %s\n", j.ID, j.Tuple, len(j.Hops), j.Fate)
		}
	}
	return r, nil
}

// Close stops the tracer and removes what open set up. Safe twice.
func (ss *session) Close() error {
	var errs []error
	if ss.stop != nil {
		ss.stop()
		if err := <-ss.runErr; err != nil {
			errs = append(errs, fmt.Errorf("trace: %w", err))
		}
		ss.stop = nil
	}
	if ss.tr != nil {
		errs = append(errs, ss.tr.Close())
		ss.tr = nil
	}
	if ss.env != nil {
		errs = append(errs, ss.env.Close())
		ss.env = nil
	}
	return errors.Join(errs...)
}

func packetsOf(p *check.Probe) []check.Packet {
	var out []check.Packet
	for _, e := range p.Expect {
		out = append(out, e.Packet)
	}
	return out
}

// Check runs the spec's probes and compares their journeys with its
// expectations. An error means the check could not run (it wraps
// ErrSetup, or check.ErrInvalid for a spec without expectations); a
// regression is a Report that did not pass.
func Check(ctx context.Context, s *check.Spec, o Options) (*check.Report, error) {
	if err := s.RequireExpectations(); err != nil {
		return nil, err
	}
	start := time.Now()
	ss, err := open(ctx, s, o)
	if err != nil {
		return nil, err
	}
	defer ss.Close()
	rep := &check.Report{Spec: s.File}
	for i := range s.Probes {
		p := &s.Probes[i]
		r, err := ss.probe(ctx, i, packetsOf(p))
		if err != nil {
			return nil, err
		}
		pr := check.ProbeReport{Name: p.Name, Proto: p.Proto, Tuple: r.tuple, Note: r.note}
		for k := range p.Expect {
			e := &p.Expect[k]
			pr.Results = append(pr.Results, check.NewResult(e, r.journeys[e.Packet]))
		}
		rep.Probes = append(rep.Probes, pr)
	}
	if err := ss.Close(); err != nil {
		return nil, fmt.Errorf("finish check: %w", err)
	}
	rep.Duration = time.Since(start)
	return rep, nil
}
