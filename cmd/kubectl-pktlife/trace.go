package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/pktlife/pktlife/kube"
	"github.com/pktlife/pktlife/render"
	"github.com/pktlife/pktlife/trace/tailcall/mode"
)

// traceFlags are the trace command's flags, turned into a kube.Request by
// request; they never travel further down.
type traceFlags struct {
	podFlags
	to                    string
	dryRun, output, color string
	maxDuration, window   time.Duration
	width                 int
	verbose               bool

	proto, src, dst, host string
	sport, dport, port    uint16
	reply                 bool
	ifaces, netns         []string
	count                 int
	duration              time.Duration
	tailCalls             string
	maxRate               int
	expr                  string // the arguments after the pod, joined by spaces
}

func (a *app) traceCmd() *cobra.Command {
	var f traceFlags
	cmd := &cobra.Command{
		Use:   "trace POD [--to POD|svc/NAME|IP[:PORT]] [flags] [expression]",
		Short: "Trace a pod's packets on its node (and on the target pod's node)",
		Example: `  # everything pod web sends and receives, until Ctrl-C
  kubectl pktlife trace web

  # web talking to service db on port 5432, ten packets
  kubectl pktlife trace web -n shop --to svc/db:5432 --count 10

  # web talking to pod cache-0 on another node: both nodes, one timeline
  kubectl pktlife trace web --to pod/cache-0:6379

  # only its DNS queries and answers: a filter expression in tcpdump's syntax
  kubectl pktlife trace web udp and port 53

  # show the node pod for review instead of running it
  kubectl pktlife trace web --to 10.0.0.7:443 --dry-run -o yaml`,
		Args:              minArgs(1, "one pod name"),
		ValidArgsFunction: a.completePods,
		RunE: func(cmd *cobra.Command, args []string) error {
			f.expr = strings.Join(args[1:], " ")
			return a.trace(cmd.Context(), args[0], &f)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&f.to, "to", "", "The other end: POD[:PORT], pod/POD[:PORT], svc/NAME[:PORT] or IP[:PORT]; a pod on another node is traced there too")
	f.podFlags.bind(cmd, "the traced pod's")
	fs.StringVar(&f.dryRun, "dry-run", "none", `"client": print the node pods instead of running them; "server": also have the API server admit them (nothing is created)`)
	fs.Lookup("dry-run").NoOptDefVal = "client"
	fs.StringVarP(&f.output, "output", "o", "text", "Output: text or json (NDJSON); with --dry-run: yaml or json")
	fs.StringVar(&f.color, "color", "auto", "Colour the text output: auto, always or never")
	fs.IntVar(&f.width, "width", 0, "Width of the text output (default: the terminal's, else 100)")
	fs.BoolVarP(&f.verbose, "verbose", "v", false, "Show skb address, CPU, length and mark per hop")
	fs.DurationVar(&f.maxDuration, "max-duration", time.Hour, "Without --duration, the node pods end after this (activeDeadlineSeconds)")
	fs.DurationVar(&f.window, "merge-window", 2*time.Second, "With two nodes: how long one node's half of a packet waits for the other's")

	fs.StringVar(&f.proto, "proto", "", "Trace only this protocol: tcp, udp, icmp, icmpv6, sctp or a number (default: the target port's)")
	fs.StringVar(&f.src, "src", "", "Trace only packets from this CIDR or address (default: the pod's address, with --to)")
	fs.StringVar(&f.dst, "dst", "", "Trace only packets to this CIDR or address (default: the target's address, with --to)")
	fs.StringVar(&f.host, "host", "", "Trace only packets from or to this CIDR or address (default: the pod's address, without --to)")
	fs.Uint16Var(&f.sport, "sport", 0, "Trace only this source port")
	fs.Uint16Var(&f.dport, "dport", 0, "Trace only this destination port (default: the target's port)")
	fs.Uint16Var(&f.port, "port", 0, "Trace only this port, source or destination")
	fs.BoolVar(&f.reply, "reply", false, "Also trace the reply direction (on by default with --to)")
	fs.StringArrayVar(&f.ifaces, "iface", nil, "Trace only on devices matching this glob (repeatable)")
	fs.StringArrayVar(&f.netns, "netns", nil, "Trace only in this network namespace, a path on the node (repeatable)")
	fs.IntVar(&f.count, "count", 0, "Stop after this many journeys per node")
	fs.DurationVar(&f.duration, "duration", 0, "Stop after this long")
	fs.StringVar(&f.tailCalls, "tail-calls", "", "Tail-call tracing on the node: "+mode.List(mode.All...)+" (default: the tracer's)")
	fs.IntVar(&f.maxRate, "max-rate", 0, "Follow at most this many new packets per second on each node (0: no limit)")
	for flag, vals := range map[string][]string{
		"output": {"text", "json", "yaml"}, "color": {"auto", "always", "never"}, "dry-run": {"none", "client", "server"},
		"proto": {"tcp", "udp", "icmp", "icmpv6", "sctp"}, "tail-calls": mode.All,
	} {
		_ = cmd.RegisterFlagCompletionFunc(flag, cobra.FixedCompletions(vals, cobra.ShellCompDirectiveNoFileComp))
	}
	_ = cmd.RegisterFlagCompletionFunc("to", a.completeTargets)
	return cmd
}

// request turns the flags into the kube request.
func (f *traceFlags) request(ns, pod string) (kube.Request, error) {
	flt := kube.Filter{
		Proto: f.proto, Sport: f.sport, Dport: f.dport, Port: f.port, Reply: f.reply,
		Ifaces: f.ifaces, Netns: f.netns, Count: f.count, Duration: f.duration, TailCalls: f.tailCalls, MaxRate: f.maxRate,
		Expr: f.expr,
	}
	for _, p := range []struct {
		s   string
		dst *netip.Prefix
	}{{f.src, &flt.Src}, {f.dst, &flt.Dst}, {f.host, &flt.Host}} {
		if p.s == "" {
			continue
		}
		v, err := kube.ParsePrefix(p.s)
		if err != nil {
			return kube.Request{}, err
		}
		*p.dst = v
	}
	return kube.Request{Namespace: ns, Pod: pod, To: f.to, Filter: flt}, nil
}

func (f *traceFlags) check() error {
	switch f.dryRun {
	case "none", "client", "server":
	default:
		return usageError{fmt.Errorf("check flags: --dry-run must be none, client or server, not %q", f.dryRun)}
	}
	ok := map[string]bool{"text": true, "json": true}
	if f.dryRun != "none" {
		ok = map[string]bool{"yaml": true, "json": true, "text": true}
	}
	if !ok[f.output] {
		return usageError{fmt.Errorf("check flags: -o %s is not an output of this mode (want text or json; yaml with --dry-run)", f.output)}
	}
	switch f.color {
	case "auto", "always", "never":
	default:
		return usageError{fmt.Errorf("check flags: --color must be auto, always or never, not %q", f.color)}
	}
	return f.podFlags.check()
}

func (a *app) trace(ctx context.Context, pod string, f *traceFlags) error {
	if err := f.check(); err != nil {
		return err
	}
	c, ns, err := a.newClient()
	if err != nil {
		return err
	}
	req, err := f.request(ns, pod)
	if err != nil {
		return usage(err)
	}
	plan, err := kube.Resolve(ctx, c, req)
	if err != nil {
		return usage(err)
	}
	o := f.options(a.session())
	o.Namespace = cmp.Or(o.Namespace, ns)
	o.Deadline = f.maxDuration
	pods := kube.NodePods(plan, o)
	if f.dryRun != "none" {
		return a.printPods(ctx, c, pods, f)
	}
	a.describePlan(plan)
	err = a.runSession(ctx, c, plan, pods, f)
	if ctx.Err() != nil {
		fmt.Fprintln(a.stderr, "kubectl-pktlife: interrupted")
	}
	if f.tailCalls == "interpose" {
		a.shimHint(err, &f.podFlags, o.Namespace)
	}
	return err
}

// shimHint says how to put the original programs back when a node's
// pktlife was killed by a signal (SIGKILL: OOM, a forced end) while it
// interposed on tail calls: it had no time to restore the slots itself, and
// its shims stay in the datapath, working, until pktlife cleanup runs on
// that node. ns is where the node pods ran.
func (a *app) shimHint(err error, f *podFlags, ns string) {
	var exit *kube.NodeExitError
	if !errors.As(err, &exit) {
		return
	}
	sig, ok := exit.Signal()
	if !ok {
		return
	}
	cmd := "kubectl pktlife cleanup -n " + ns + " --node " + exit.Node
	if f.image != kube.DefaultImage() {
		cmd += " --image " + f.image
	}
	if f.pullPolicy != "" {
		cmd += " --image-pull-policy " + f.pullPolicy
	}
	fmt.Fprintf(a.stderr, "kubectl-pktlife: pktlife on node %s was killed by %s while it interposed on tail calls: "+
		"its shims keep the datapath working until the original programs are put back with: %s\n", exit.Node, sig, cmd)
}

func (a *app) printPods(ctx context.Context, c kubernetes.Interface, pods []*corev1.Pod, f *traceFlags) error {
	if f.dryRun == "server" {
		var err error
		if pods, err = kube.DryRunCreate(ctx, c, pods); err != nil {
			return err
		}
	}
	var out []byte
	var err error
	if f.output == "json" {
		out, err = kube.PodsJSON(pods)
	} else {
		out, err = kube.PodsYAML(pods)
	}
	if err != nil {
		return err
	}
	_, err = a.stdout.Write(out)
	return err
}

func (a *app) describePlan(p *kube.Plan) {
	s := "kubectl-pktlife: tracing " + p.Pod.String()
	if p.Target != nil {
		s += " ↔ " + p.Target.String()
	}
	args := p.Filter.Args()
	fmt.Fprintf(a.stderr, "%s\nkubectl-pktlife: node filter: %s\n", s, strings.Join(args[1:len(args)-2], " "))
	for _, n := range p.Notes {
		fmt.Fprintln(a.stderr, "kubectl-pktlife: note:", n)
	}
	if p.MultiNode() {
		fmt.Fprintf(a.stderr, "kubectl-pktlife: two nodes (%s, %s): each packet's halves are matched by tuple and IP ID; "+
			"times are per node, the nodes' clocks are not compared\n", p.Nodes[0], p.Nodes[1])
	}
}

func (a *app) runSession(ctx context.Context, c kubernetes.Interface, plan *kube.Plan, pods []*corev1.Pod, f *traceFlags) error {
	sink := a.sink(plan, f)
	s := &kube.Session{
		Pods:      pods,
		NewRunner: a.runner(c, &f.podFlags),
		Sink:      sink,
		Status:    a.stderr,
	}
	return s.Run(ctx)
}

// colorWanted decides --color auto against stdout.
func colorWanted(mode string) bool {
	switch mode {
	case "always":
		return true
	case "never":
		return false
	}
	return stdoutColor(os.Stdout)
}

// sink picks the output: journeys as they come for one node, merged
// timelines for two; text or NDJSON.
func (a *app) sink(plan *kube.Plan, f *traceFlags) kube.Sink {
	opts := render.Options{Color: colorWanted(f.color), Width: a.width(f.width), Verbose: f.verbose}
	if !plan.MultiNode() {
		if f.output == "json" {
			return kube.RenderSink{R: render.NewJSON(a.stdout)}
		}
		return kube.RenderSink{R: render.NewText(a.stdout, opts)}
	}
	order := kube.Order{plan.Pod.IP: plan.Pod.Node}
	if t := plan.Target; t != nil && t.Node != "" {
		order[t.IP] = t.Node
	}
	var w kube.TimelineWriter = &kube.TimelineText{W: a.stdout,
		New: func(w io.Writer) kube.Renderer { return render.NewText(w, opts) }}
	if f.output == "json" {
		w = kube.TimelineJSON{W: a.stdout}
	}
	return &kube.MergeSink{M: &kube.Merger{Order: order, Window: f.window}, W: w}
}

// width is --width, else the terminal's, else $COLUMNS, else the
// renderer's default.
func (a *app) width(flag int) int {
	if flag > 0 {
		return flag
	}
	if a.stdout == os.Stdout {
		if w, _, err := term.GetSize(int(os.Stdout.Fd())); err == nil && w > 0 {
			return w
		}
	}
	if n, err := strconv.Atoi(os.Getenv("COLUMNS")); err == nil && n > 0 {
		return n
	}
	return 0
}

func stdoutColor(f *os.File) bool { return render.ColorWanted(f) }
