package bench

import (
	"context"
	"errors"
	"fmt"
	"net/netip"

	"github.com/pktlife/pktlife/demo"
	"github.com/pktlife/pktlife/trace"
)

// Env is the benchmark's node: the demo topology with its datapath, and a
// sink in pod B for floods through the service VIP (DNAT, tail calls,
// redirect to pod B).
type Env struct {
	Topo     *demo.Topology
	Datapath *demo.Datapath
	Sink     *Sink
	// What the traced cases attach and read with (zero: the tracer's
	// defaults), for measuring one kind of hook or ring size at a time.
	Hops     []string
	RingSize int
	// MaxRate is the MatchCapped case's trace.Options.MaxRate.
	MaxRate int
}

// NewEnv builds the topology, loads the demo datapath (tcx) and starts the
// sink. Close removes everything.
func NewEnv(ctx context.Context) (env *Env, err error) {
	env = &Env{}
	defer func() {
		if err != nil {
			env.Close()
		}
	}()
	if env.Topo, err = demo.NewTopology(ctx, demo.Options{Prefix: "pl-bench"}); err != nil {
		return nil, fmt.Errorf("build topology: %w", err)
	}
	if env.Datapath, err = demo.LoadDatapath(env.Topo, demo.DatapathOptions{}); err != nil {
		return nil, fmt.Errorf("load datapath: %w", err)
	}
	if env.Sink, err = StartSink(env.Topo.PodB.Path, env.Topo.Backend()); err != nil {
		return nil, err
	}
	return env, nil
}

// Close stops the sink and removes the datapath and topology. Safe twice.
func (e *Env) Close() error {
	var errs []error
	if e.Sink != nil {
		errs = append(errs, e.Sink.Close())
		e.Sink = nil
	}
	if e.Datapath != nil {
		errs = append(errs, e.Datapath.Close())
		e.Datapath = nil
	}
	if e.Topo != nil {
		errs = append(errs, e.Topo.Close())
		e.Topo = nil
	}
	return errors.Join(errs...)
}

// Flood sends a flood from pod A to the service VIP.
func (e *Env) Flood(ctx context.Context, o FloodOptions) (FloodResult, error) {
	return Flood(ctx, e.Topo.PodA.Path, e.Topo.Service, e.Sink, o)
}

// Namespaces are the paths of the topology's namespaces.
func (e *Env) Namespaces() []string {
	var out []string
	for _, n := range e.Topo.Namespaces() {
		out = append(out, n.Path)
	}
	return out
}

// Case is one way of tracing during a flood.
type Case string

const (
	Untraced       Case = "untraced"
	NoMatch        Case = "no-match"  // tracer attached, filter matches no packet
	MatchAll       Case = "match"     // filter matches every flood packet
	Interpose      Case = "interpose" // match, with tail-call interposition
	MatchCapped    Case = "match, --max-rate"
	HooksOnly      Case = "hooks only"       // every hop attached, observers return at once
	LeanHooksOnly  Case = "lean, hooks only" // the lean preset's hops, observers return at once
	LeanNoMatch    Case = "lean, no-match"   // the lean preset, filter matches no packet
	TcpdumpNoMatch Case = "tcpdump, no-match"
	TcpdumpMatch   Case = "tcpdump, match"
	noMatchPort         = uint16(9) // discard: nothing in the flood uses it
	floodProto          = uint8(17) // udp
	udpServicePort      = demo.ServicePort
)

// Cases are the datapath benchmark's cases, baseline first.
var Cases = []Case{Untraced, HooksOnly, NoMatch, MatchAll, Interpose, MatchCapped,
	LeanHooksOnly, LeanNoMatch, TcpdumpNoMatch, TcpdumpMatch}

// Tcpdump reports whether the case runs tcpdump instead of pktlife.
func (c Case) Tcpdump() bool { return c == TcpdumpNoMatch || c == TcpdumpMatch }

// TcpdumpFilter is the filter expression of a tcpdump case: the no-match
// case's (UDP to the discard port), or one that matches every flood packet
// on every device it crosses: to the service VIP before the node's DNAT,
// to pod B's backend port after it (pktlife follows the skb through the
// NAT with its one tuple; tcpdump sees each device's copy on its own).
func (e *Env) TcpdumpFilter(c Case) (string, error) {
	switch c {
	case TcpdumpNoMatch:
		return fmt.Sprintf("udp dst port %d", noMatchPort), nil
	case TcpdumpMatch:
		be := e.Topo.Backend()
		return fmt.Sprintf("udp and ((dst host %s and dst port %d) or (dst host %s and dst port %d))",
			e.Topo.Service.Addr(), e.Topo.Service.Port(), be.Addr(), be.Port()), nil
	}
	return "", fmt.Errorf("tcpdump filter for case %q: not a tcpdump case", c)
}

// TracerOptions are the tracer settings for a case: the default hop set on
// every device of the topology's three namespaces (so that traffic of
// other namespaces on the machine never matches). The filter either names
// the flood exactly (UDP to the service VIP and port; NAT is followed by
// the skb) or a port nothing sends to; both parse the packet to L4, the
// dearest way not to match.
func (e *Env) TracerOptions(c Case) (trace.Options, error) {
	o := trace.Options{
		Netns:     e.Namespaces(),
		Ifaces:    []string{"*"},
		Hops:      e.Hops,
		RingSize:  e.RingSize,
		TailCalls: trace.TailCallsOff, // the baseline traces no tail calls
	}
	vip := e.Topo.Service.Addr()
	flood := trace.Filter{Proto: floodProto, Dst: netip.PrefixFrom(vip, vip.BitLen()), Dport: udpServicePort}
	nothing := trace.Filter{Proto: floodProto, Dport: noMatchPort}
	switch c {
	case LeanNoMatch:
		o.Hops = []string{"lean"}
		o.Filter = nothing
	case LeanHooksOnly:
		o.Hops = []string{"lean"}
		o.Filter = nothing
		o.HooksOnly = true
	case NoMatch:
		o.Filter = nothing
	case HooksOnly:
		o.Filter = nothing
		o.HooksOnly = true
	case MatchAll:
		o.Filter = flood
	case Interpose:
		o.Filter = flood
		o.TailCalls = trace.TailCallsInterpose
	case MatchCapped:
		o.Filter = flood
		o.MaxRate = e.MaxRate
	default:
		return o, fmt.Errorf("tracer options for case %q: not a traced case", c)
	}
	return o, nil
}
