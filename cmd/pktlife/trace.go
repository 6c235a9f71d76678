package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/pktlife/pktlife/render"
	"github.com/pktlife/pktlife/trace"
	"github.com/pktlife/pktlife/trace/journey"
	"github.com/pktlife/pktlife/trace/tailcall/mode"
)

// traceFlags are the command line of `pktlife trace`. They become
// trace.Options and render.Options; they are never passed further down.
type traceFlags struct {
	proto, src, dst, host string
	sport, dport, port    int
	reply                 bool
	expr                  string // the positional arguments, joined by spaces
	ifaces, netns, hops   []string
	netnsLabels           []string
	count                 int
	duration              time.Duration
	out                   outputFlags
	legacyTC              bool
	kfuncBackend          string
	maxInFlight           int
	maxRate               int
	tailCalls             string
	stateDir              string
}

func (f *traceFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.proto, "proto", "", "protocol: tcp, udp, icmp, icmpv6, sctp or a number")
	fl.StringVar(&f.src, "src", "", "source address or CIDR")
	fl.StringVar(&f.dst, "dst", "", "destination address or CIDR")
	fl.StringVar(&f.host, "host", "", "address or CIDR on either side")
	fl.IntVar(&f.sport, "sport", 0, "source port")
	fl.IntVar(&f.dport, "dport", 0, "destination port")
	fl.IntVar(&f.port, "port", 0, "port on either side")
	fl.BoolVar(&f.reply, "reply", false, "also follow packets in the reverse direction (replies)")
	fl.StringArrayVar(&f.ifaces, "iface", nil, "devices to observe at tc (glob, repeatable; default all but lo); packets must first be seen on one")
	fl.StringArrayVar(&f.netns, "netns", nil, "network namespace (path or /run/netns name, repeatable; default the current one)")
	fl.StringArrayVar(&f.netnsLabels, "netns-label", nil, "ADDR=NAME: show the network namespace holding address ADDR as NAME (repeatable; the kubectl plugin names pods so)")
	fl.StringSliceVar(&f.hops, "hops", nil, "hops to attach: names from `pktlife hops` or a preset: default, lean (tc, sockets, drops) or all")
	fl.IntVar(&f.count, "count", -1, "stop after this many journeys")
	fl.DurationVar(&f.duration, "duration", 0, "stop after this long (e.g. 30s)")
	f.out.register(fl)
	fl.BoolVar(&f.legacyTC, "legacy-tc", false, "attach tc observers with clsact+cls_bpf even where tcx works")
	fl.StringVar(&f.kfuncBackend, "kfunc-backend", "", "backend for kernel-function hops: fentry, kprobe.multi or kprobe (default: the best that works)")
	fl.IntVar(&f.maxInFlight, "max-inflight", 65536, "journeys held open at once; past it the oldest is closed as evicted")
	fl.IntVar(&f.maxRate, "max-rate", 0, "follow at most this many new packets per second (0: no limit); the others are counted as skipped")
	fl.StringVar(&f.tailCalls, "tail-calls", trace.TailCallsAuto, "tail-call chains: "+mode.List(mode.All...)+" (interpose: exact per packet, shims in the datapath's prog_arrays until exit)")
	registerStateDir(fl, &f.stateDir)
}

func parsePort(name string, v int) (uint16, error) {
	if v < 0 || v > 65535 {
		return 0, usagef("invalid --%s %d: want 1-65535", name, v)
	}
	return uint16(v), nil
}

// options validates the flags and converts them.
func (f *traceFlags) options() (trace.Options, error) {
	var o trace.Options
	var err error
	if o.Filter.Proto, err = trace.ParseProto(f.proto); err != nil {
		return o, usageError{err}
	}
	if o.Filter.Src, err = trace.ParsePrefix(f.src); err != nil {
		return o, usagef("invalid --src: %w", err)
	}
	if o.Filter.Dst, err = trace.ParsePrefix(f.dst); err != nil {
		return o, usagef("invalid --dst: %w", err)
	}
	if o.Filter.Host, err = trace.ParsePrefix(f.host); err != nil {
		return o, usagef("invalid --host: %w", err)
	}
	if o.Filter.Sport, err = parsePort("sport", f.sport); err != nil {
		return o, err
	}
	if o.Filter.Dport, err = parsePort("dport", f.dport); err != nil {
		return o, err
	}
	if o.Filter.Port, err = parsePort("port", f.port); err != nil {
		return o, err
	}
	o.Filter.Reply = f.reply
	o.Filter.Expr = f.expr
	if err := o.Filter.Validate(); err != nil {
		return o, usageError{inFlagTerms(err)}
	}
	if f.count == 0 || f.count < -1 {
		return o, usagef("invalid --count %d: want a positive number of journeys", f.count)
	}
	if f.duration < 0 {
		return o, usagef("invalid --duration %s: want a positive duration", f.duration)
	}
	if err := f.out.validate(); err != nil {
		return o, err
	}
	o.Snaplen = f.out.capture()
	if f.maxInFlight <= 0 {
		return o, usagef("invalid --max-inflight %d: want a positive number", f.maxInFlight)
	}
	o.Ifaces = f.ifaces
	o.Netns = f.netns
	if o.NetnsLabels, err = parseNetnsLabels(f.netnsLabels); err != nil {
		return o, err
	}
	o.Hops = f.hops
	o.LegacyTC = f.legacyTC
	switch f.kfuncBackend {
	case "", trace.MechFentry, trace.MechKprobe, trace.MechKprobeMulti:
	default:
		return o, usagef("invalid --kfunc-backend %q: want fentry, kprobe.multi or kprobe", f.kfuncBackend)
	}
	o.KfuncBackend = f.kfuncBackend
	if f.maxRate < 0 {
		return o, usagef("invalid --max-rate %d: want packets per second, 0 for no limit", f.maxRate)
	}
	o.MaxInFlight = f.maxInFlight
	o.MaxRate = f.maxRate
	o.TailCalls = f.tailCalls
	o.StateDir = f.stateDir
	return o, nil
}

func newTraceCmd() *cobra.Command {
	var f traceFlags
	cmd := &cobra.Command{
		Use:   "trace [flags] [expression]",
		Short: "Trace matching packets and print each one's journey",
		Long:  "Trace matching packets and print each one's journey.\n\n" + exprHelp,
		Example: `  pktlife trace 'udp and dst port 53'
  pktlife trace host 10.244.1.7 and not port 22 --reply --iface 'lxc*' --count 10
  pktlife trace --proto udp --dport 53
  pktlife trace --dst 10.96.0.0/12 -o json --duration 30s
  pktlife trace 'udp port 53' --pcap dns.pcapng --html dns.html --count 20`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			f.expr = strings.Join(args, " ")
			opts, err := f.options()
			if err != nil {
				return err
			}
			if err := requireKernel(); err != nil {
				return err
			}
			return runTrace(cmd.Context(), opts, &f)
		},
	}
	f.register(cmd)
	return cmd
}

func runTrace(ctx context.Context, opts trace.Options, f *traceFlags) error {
	started := time.Now()
	out, err := f.out.open(os.Stdout, "pktlife trace: "+opts.Filter.String())
	if err != nil {
		return err
	}
	defer out.Close()
	tr, err := trace.New(opts)
	if err != nil {
		return classify(err)
	}
	defer tr.Close()
	reportAttached(os.Stderr, tr.Attached())
	reportNotices(os.Stderr, tr)
	fmt.Fprintf(os.Stderr, "tracing %s; Ctrl-C to stop\n", opts.Filter.String())

	if f.duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, f.duration)
		defer cancel()
	}
	stopStatus := startStatus(ctx, os.Stderr, tr)
	var n int
	var werr error
	err = tr.Run(ctx, func(j *journey.Journey) bool {
		stopStatus(false)
		werr = out.Journey(j)
		j.Release() // written: the renderers keep nothing of it
		if werr != nil {
			return false
		}
		n++
		return f.count < 0 || n < f.count
	})
	stopStatus(true)
	if err == nil {
		err = werr
	}
	reportNotices(os.Stderr, tr)
	closeErr := tr.Close()
	reportNotices(os.Stderr, tr)
	s := tr.Stats()
	render.WriteSummary(os.Stderr, render.Summary{
		Journeys: uint64(n), Events: s.Events, Lost: s.Lost, Evicted: s.Evicted, Skipped: s.Skipped,
		Duration: time.Since(started),
	}, render.Options{Color: render.ColorWanted(os.Stderr)})
	if err != nil {
		return fmt.Errorf("trace: %w", err)
	}
	if closeErr != nil {
		return fmt.Errorf("detach: %w", closeErr)
	}
	return nil
}

// reportNotices writes what tail-call interposition has to say: slots
// restored from a killed pktlife's journal, slots their owner changed.
func reportNotices(w io.Writer, tr *trace.Tracer) {
	for _, n := range tr.Notices() {
		fmt.Fprintf(w, "tail-calls: %s\n", n)
	}
	if n := tr.ShimMisses(); n > 0 {
		fmt.Fprintf(w, "tail-calls: %d packet(s) ran out of tail calls in a shim and were passed on with TC_ACT_UNSPEC\n", n)
	}
}

// classify turns the tracer's bad-input errors into usage errors.
func classify(err error) error {
	err = inFlagTerms(err)
	for _, target := range []error{trace.ErrNoDevice, trace.ErrNetnsNotFound, trace.ErrBadOption,
		trace.ErrInterposeBusy, trace.ErrNoDurableState} {
		if errors.Is(err, target) {
			return usageError{err}
		}
	}
	return err
}

// reportAttached writes one line per attached hop, where and how, and one
// line per reason for the hops that could not attach.
func reportAttached(w io.Writer, as []trace.Attachment) {
	type agg struct {
		ok   []string
		mech map[string]bool
	}
	by := map[string]*agg{}
	var order []string
	skipped := map[string][]string{} // reason → hops
	var reasons []string
	for _, a := range as {
		if a.Err != nil {
			r := inFlagTerms(a.Err).Error()
			if _, ok := skipped[r]; !ok {
				reasons = append(reasons, r)
			}
			if !slices.Contains(skipped[r], a.Hop) {
				skipped[r] = append(skipped[r], a.Hop)
			}
			continue
		}
		g := by[a.Hop]
		if g == nil {
			g = &agg{mech: map[string]bool{}}
			by[a.Hop] = g
			order = append(order, a.Hop)
		}
		g.ok = append(g.ok, a.Where)
		g.mech[a.Mechanism] = true
	}
	for _, h := range order {
		g := by[h]
		var mechs []string
		for m := range g.mech {
			mechs = append(mechs, m)
		}
		sort.Strings(mechs)
		where := strings.Join(g.ok, ", ")
		if len(g.ok) > 4 {
			where = fmt.Sprintf("%d places", len(g.ok))
		}
		fmt.Fprintf(w, "attached %-18s %s (%s)\n", h, where, strings.Join(mechs, ","))
	}
	for _, r := range reasons {
		hops := skipped[r]
		if len(hops) == 1 {
			fmt.Fprintf(w, "skipped  %-18s %s\n", hops[0], r)
			continue
		}
		fmt.Fprintf(w, "skipped  %d hops: %s\n         (%s)\n", len(hops), r, strings.Join(hops, ", "))
	}
}

// parseNetnsLabels reads --netns-label ADDR=NAME flags.
func parseNetnsLabels(flags []string) (map[netip.Addr]string, error) {
	if len(flags) == 0 {
		return nil, nil
	}
	out := make(map[netip.Addr]string, len(flags))
	for _, f := range flags {
		a, name, ok := strings.Cut(f, "=")
		ip, err := netip.ParseAddr(a)
		if !ok || name == "" || err != nil {
			return nil, usagef("invalid --netns-label %q: want ADDR=NAME", f)
		}
		out[ip.Unmap()] = name
	}
	return out, nil
}
