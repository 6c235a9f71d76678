package kube

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/pktlife/pktlife/filter"
	"github.com/pktlife/pktlife/trace/tailcall/mode"
)

// Filter holds the node tracer's packet filter and limits: the flags of
// `pktlife trace` that the plugin passes on. Zero values are "not set".
type Filter struct {
	Proto     string // tcp, udp, icmp, icmpv6, sctp or a number
	Src       netip.Prefix
	Dst       netip.Prefix
	Host      netip.Prefix
	Sport     uint16
	Dport     uint16
	Port      uint16
	Reply     bool
	Ifaces    []string // globs
	Netns     []string // paths on the node, e.g. /run/netns/cni-1234
	Count     int
	Duration  time.Duration
	TailCalls string // one of mode.All, or "" for the tracer's default
	MaxRate   int    // new packets followed per second on each node; 0 = no limit
	// Expr is a filter expression in tcpdump's syntax, passed on as the
	// node tracer's positional arguments: packets must match it besides
	// the fields (and what Derive fills in).
	Expr string
}

// ParsePrefix reads a CIDR or a single address (which becomes a /32 or /128).
func ParsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("parse prefix: %w: %w", ErrBadFilter, err)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("parse prefix: %w: %w", ErrBadFilter, err)
	}
	return hostPrefix(a), nil
}

func hostPrefix(a netip.Addr) netip.Prefix {
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen())
}

// Validate checks what the node tracer would refuse, so the user learns it
// before a privileged pod is created.
func (f Filter) Validate() error {
	switch f.Proto {
	case "", "tcp", "udp", "icmp", "icmpv6", "icmp6", "sctp":
	default:
		if _, err := strconv.ParseUint(f.Proto, 10, 8); err != nil {
			return fmt.Errorf("check filter: %w: unknown protocol %q (want tcp, udp, icmp, icmpv6, sctp or a number 0-255)", ErrBadFilter, f.Proto)
		}
	}
	if err := mode.Check(f.TailCalls); err != nil {
		return fmt.Errorf("check filter: %w: unknown tail-call mode %q (want %s)", ErrBadFilter, f.TailCalls, mode.List(mode.All...))
	}
	if f.Count < 0 || f.Duration < 0 || f.MaxRate < 0 {
		return fmt.Errorf("check filter: %w: count, duration and max rate must not be negative", ErrBadFilter)
	}
	if f.Port != 0 && (f.Sport != 0 || f.Dport != 0) {
		return fmt.Errorf("check filter: %w: --port excludes --sport and --dport", ErrBadFilter)
	}
	if _, err := filter.Compile(f.Expr); err != nil {
		return fmt.Errorf("check filter: %w: %w", ErrBadFilter, err)
	}
	return nil
}

// Derive fills what the user left unset from the traced pod and the target:
// without a target the pod's own address (--host); with one the pair
// (--src pod --dst target --reply), the target's port and protocol.
func (f Filter) Derive(pod Endpoint, target *Endpoint) Filter {
	out := f
	out.Ifaces = append([]string(nil), f.Ifaces...)
	out.Netns = append([]string(nil), f.Netns...)
	addrsSet := f.Src.IsValid() || f.Dst.IsValid() || f.Host.IsValid()
	if target == nil {
		if !addrsSet {
			out.Host = hostPrefix(pod.IP)
		}
		return out
	}
	if !addrsSet {
		out.Src = hostPrefix(pod.IP)
		out.Dst = hostPrefix(target.IP)
		out.Reply = true
	}
	if target.Port != 0 && f.Dport == 0 && f.Port == 0 && f.Sport == 0 {
		out.Dport = target.Port
	}
	if out.Proto == "" && target.Port != 0 {
		out.Proto = target.Proto
	}
	return out
}

// Args is the node pod's command line after the binary name: `trace`, the
// filter's flags, --output json, and the expression after "--".
func (f Filter) Args() []string {
	args := append([]string{"trace"}, f.flagArgs()...)
	args = append(args, "--output", "json")
	if f.Expr != "" {
		args = append(args, "--", f.Expr)
	}
	return args
}

// Describe says the filter as the node tracer's flags and the quoted
// expression, for people (the node pod's annotation).
func (f Filter) Describe() string {
	s := strings.Join(f.flagArgs(), " ")
	if f.Expr != "" {
		s = strings.TrimSpace(s + " '" + f.Expr + "'")
	}
	return s
}

// flagArgs are the node tracer's flags for the filter.
func (f Filter) flagArgs() []string {
	var args []string
	add := func(name, v string) { args = append(args, "--"+name, v) }
	if f.Proto != "" {
		add("proto", f.Proto)
	}
	for _, p := range []struct {
		name string
		v    netip.Prefix
	}{{"src", f.Src}, {"dst", f.Dst}, {"host", f.Host}} {
		if p.v.IsValid() {
			add(p.name, p.v.String())
		}
	}
	for _, p := range []struct {
		name string
		v    uint16
	}{{"sport", f.Sport}, {"dport", f.Dport}, {"port", f.Port}} {
		if p.v != 0 {
			add(p.name, strconv.Itoa(int(p.v)))
		}
	}
	if f.Reply {
		args = append(args, "--reply")
	}
	for _, g := range f.Ifaces {
		add("iface", g)
	}
	for _, n := range f.Netns {
		add("netns", n)
	}
	if f.Count > 0 {
		add("count", strconv.Itoa(f.Count))
	}
	if f.Duration > 0 {
		add("duration", f.Duration.String())
	}
	if f.TailCalls != "" {
		add("tail-calls", f.TailCalls)
	}
	if f.MaxRate > 0 {
		add("max-rate", strconv.Itoa(f.MaxRate))
	}
	return args
}
