package check

import (
	"net/netip"
	"time"

	"github.com/pktlife/pktlife/trace/journey"
)

// Version is the spec format's version; a spec may state it as `version: 1`.
const Version = 1

// Pos is a place in a spec file, 1-based; zero when unknown (built in code).
type Pos struct {
	Line, Col int
}

// Spec is a parsed path spec.
type Spec struct {
	File   string // the name errors are reported against
	Setup  Setup
	Probes []Probe
}

// Setup says where the probes run and how they are traced.
type Setup struct {
	// Demo builds pktlife's demo topology and datapath for the run; the
	// netns names "poda", "podb" and "node" then name its namespaces.
	Demo bool
	// Netns lists the namespaces to observe (paths, names under /run/netns,
	// or "host"); empty means the demo's three, or the current one.
	Netns []string
	// Ifaces are device globs that get tc observers; empty means all.
	Ifaces []string
	// Hops names the tracer's hops (see `pktlife hops`); empty = default.
	Hops []string
	// LegacyTC attaches observers (and the demo datapath) with clsact.
	LegacyTC bool
	// TailCalls is "" or "off" (no per-packet chains) or "interpose".
	TailCalls string
	// Filter is an expression in tcpdump's syntax (see package filter)
	// that packets must match besides coming from or going to a probe's
	// source; "" = no more.
	Filter string
	// Timeout bounds the wait for one probe's journeys; 0 = DefaultTimeout.
	Timeout time.Duration
	Pos     Pos
}

// DefaultTimeout bounds the wait for one probe's journeys.
const DefaultTimeout = 3 * time.Second

// Probe is one packet (or connection) to send and what its journeys must
// look like.
type Probe struct {
	Name    string
	Proto   string // "udp", "tcp" or "icmp"
	From    Endpoint
	To      netip.AddrPort // port 0 for icmp
	Payload string
	// Listen, when set, is a server the check starts before sending: a UDP
	// or TCP echo server (by Proto) at Listen.Addr in Listen.Netns.
	Listen *Listen
	Expect []Expect
	Pos    Pos
}

// Endpoint is where a probe is sent from: a namespace, a source address, or
// both. Empty means the current namespace and the routed source address.
type Endpoint struct {
	Netns string
	Addr  netip.Addr
}

// Listen is a server a probe needs.
type Listen struct {
	Netns string
	Addr  netip.AddrPort
}

// Packet selects which journey of a probe an expectation is about.
type Packet string

const (
	PacketFirst Packet = "first" // the probe's first packet (the SYN for TCP)
	PacketReply Packet = "reply" // the first packet back (SYN-ACK, echo reply)
)

// Expect is the expected journey of one of a probe's packets. Fields left
// out are not checked.
type Expect struct {
	Packet Packet
	// Path is the ordered list of hop patterns and gaps; nil = not checked.
	Path []Step
	// NAT, when NATSet, is the exact ordered list of tuple changes.
	NAT    []NATPattern
	NATSet bool
	// Fate is the expected fate; "" = any.
	Fate journey.Fate
	// DropReason is a glob on the journey's drop reason.
	DropReason string
	// Total is a budget for the whole journey (first hop to last); 0 = none.
	Total    time.Duration
	TotalPos Pos
	Pos      Pos
}

// Step is one element of an expected path: a gap ("...", any number of
// hops, including none) or a pattern one hop must match. Empty pattern
// fields match anything.
type Step struct {
	Gap bool
	// Hook is a hook name (journey.Hook.String) or "tc" for either tc hook.
	Hook  string
	Dev   string // glob on the device name
	Netns string // glob on the namespace name
	// Prog is a glob that one of the hook's programs must match.
	Prog string
	// Progs, when ProgsSet, are globs the hook's programs must match one
	// for one, in order.
	Progs    []string
	ProgsSet bool
	// Chain, when ChainSet, is the hop's tail-call chain.
	Chain    []ChainStep
	ChainSet bool
	// Verdict is a TC_ACT_* name.
	Verdict string
	// DropReason is a glob on the hop's drop reason (kfree_skb).
	DropReason string
	// NAT is a tuple change that must have happened after the previous
	// matched hop and no later than this one.
	NAT *NATPattern
	// Budget is the longest the packet may take from the previous matched
	// hop (the journey's first hop, for the first step) to this one.
	Budget    time.Duration
	BudgetPos Pos
	Pos       Pos
}

// ChainStep is one element of a tail-call chain pattern: a gap, or one tail
// call written "[map/slot] prog", "[map/*] prog*", "prog" or
// "[map/slot] missed".
type ChainStep struct {
	Gap    bool
	Map    string // glob; "" = any
	Slot   int    // -1 = any
	Prog   string // glob; "" = any
	Missed bool   // the slot was empty
}

// NATPattern matches one NAT: its kind and the new source and destination.
type NATPattern struct {
	Kind string   // "dnat", "snat", "nat" or "" for any
	Src  AddrPort // the new source; zero = any
	Dst  AddrPort // the new destination; zero = any
	Pos  Pos
}

// AddrPort is an address with an optional port (0 = any port).
type AddrPort struct {
	Addr netip.Addr
	Port uint16
}

// IsZero reports whether the pattern matches anything.
func (a AddrPort) IsZero() bool { return !a.Addr.IsValid() }

func (a AddrPort) String() string {
	if !a.Addr.IsValid() {
		return "*"
	}
	if a.Port == 0 {
		return a.Addr.String()
	}
	return netip.AddrPortFrom(a.Addr, a.Port).String()
}

// Matches reports whether ap matches the pattern.
func (a AddrPort) Matches(ap netip.AddrPort) bool {
	if !a.Addr.IsValid() {
		return true
	}
	return a.Addr == ap.Addr() && (a.Port == 0 || a.Port == ap.Port())
}
