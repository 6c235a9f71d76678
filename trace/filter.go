package trace

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/pktlife/pktlife/bpf"
	"github.com/pktlife/pktlife/filter"
	"github.com/pktlife/pktlife/trace/journey"
)

// Filter selects the packets to follow. The zero Filter matches every IP
// packet. A packet that matched once is followed by its skb even after NAT
// changed its tuple. A packet must match both the fields and Expr; with
// Reply, a packet whose reverse matches both does too.
type Filter struct {
	// Expr is an expression in tcpdump's syntax (see package filter),
	// compiled into the in-kernel filter; "" = every packet.
	Expr  string
	Proto uint8        // IP protocol number; 0 = any
	Src   netip.Prefix // source network; invalid = any
	Dst   netip.Prefix // destination network
	Host  netip.Prefix // either side; exclusive with Src/Dst
	Sport uint16
	Dport uint16
	Port  uint16 // either side; exclusive with Sport/Dport
	Reply bool   // also match the reverse direction (replies)
}

// ParseProto parses "tcp", "udp", "icmp", "icmpv6", "sctp" or a number.
func ParseProto(s string) (uint8, error) {
	switch strings.ToLower(s) {
	case "", "any", "ip":
		return 0, nil
	case "tcp":
		return 6, nil
	case "udp":
		return 17, nil
	case "icmp":
		return 1, nil
	case "icmpv6", "icmp6":
		return 58, nil
	case "sctp":
		return 132, nil
	}
	n, err := strconv.ParseUint(s, 10, 8)
	if err != nil {
		return 0, fmt.Errorf("parse protocol %q: want tcp, udp, icmp, icmpv6, sctp or a number 0-255", s)
	}
	return uint8(n), nil
}

// ParsePrefix parses a CIDR or a bare address (taken as a host route).
func ParsePrefix(s string) (netip.Prefix, error) {
	if s == "" {
		return netip.Prefix{}, nil
	}
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("parse CIDR %q: %w", s, err)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("parse address %q: %w", s, err)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// ConflictError says that two of Filter's settings cannot be combined. It
// names them by their Filter fields; a command line maps them to its flags.
type ConflictError struct {
	Field string   // e.g. "Host"
	With  []string // e.g. "Src", "Dst"
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("validate filter: %s cannot be combined with %s",
		strings.ToLower(e.Field), strings.ToLower(strings.Join(e.With, " or ")))
}

// Validate reports contradictory settings and expressions the in-kernel
// filter cannot run.
func (f *Filter) Validate() error {
	if _, err := filter.Compile(f.Expr); err != nil {
		return err
	}
	return f.validateFields()
}

// validateFields reports contradictory settings of the fields.
func (f *Filter) validateFields() error {
	if f.Host.IsValid() && (f.Src.IsValid() || f.Dst.IsValid()) {
		return &ConflictError{Field: "Host", With: []string{"Src", "Dst"}}
	}
	if f.Port != 0 && (f.Sport != 0 || f.Dport != 0) {
		return &ConflictError{Field: "Port", With: []string{"Sport", "Dport"}}
	}
	if err := f.validateFamily(); err != nil {
		return err
	}
	if (f.Sport != 0 || f.Dport != 0 || f.Port != 0) && f.Proto != 0 && f.Proto != 6 && f.Proto != 17 && f.Proto != 132 {
		return fmt.Errorf("validate filter: ports need tcp, udp or sctp, not protocol %d", f.Proto)
	}
	return nil
}

// validateFamily refuses IPv4 and IPv6 prefixes in one filter.
func (f *Filter) validateFamily() error {
	fam := 0
	for _, p := range []netip.Prefix{f.Src, f.Dst, f.Host} {
		if !p.IsValid() {
			continue
		}
		pf := 4
		if p.Addr().Is6() {
			pf = 6
		}
		if fam != 0 && fam != pf {
			return fmt.Errorf("validate filter: IPv4 and IPv6 addresses mixed")
		}
		fam = pf
	}
	return nil
}

// kernel converts the filter to the layout the BPF programs read.
func (f *Filter) kernel() (bpf.PktlifeFilter, error) {
	var k bpf.PktlifeFilter
	prog, err := filter.Compile(f.Expr)
	if err != nil {
		return k, err
	}
	k.Nprog = uint8(len(prog))
	for i, in := range prog {
		k.Prog[i] = bpf.PktlifeFilterInsn{
			Addr: in.Addr, Mask: in.Mask, Lo: in.Lo, Hi: in.Hi,
			Kind: uint8(in.Kind), Side: uint8(in.Side), Family: in.Family, Proto: in.Proto,
			Jt: in.JT, Jf: in.JF, Op: in.Op,
		}
	}
	k.Proto = f.Proto
	set := func(p netip.Prefix, net, mask *[16]uint8) {
		a := p.Addr().Unmap()
		b := a.AsSlice()
		copy(net[:], b)
		bits := p.Bits()
		for i := 0; i < len(b); i++ {
			switch {
			case bits >= 8:
				mask[i] = 0xff
				bits -= 8
			case bits > 0:
				mask[i] = byte(0xff << (8 - bits))
				bits = 0
			}
			net[i] &= mask[i]
		}
		if a.Is4() {
			k.Family = 4
		} else {
			k.Family = 6
		}
	}
	switch {
	case f.Host.IsValid():
		set(f.Host, &k.Src, &k.SrcMask)
		k.Host = 1
	default:
		if f.Src.IsValid() {
			set(f.Src, &k.Src, &k.SrcMask)
			k.HasSrc = 1
		}
		if f.Dst.IsValid() {
			set(f.Dst, &k.Dst, &k.DstMask)
			k.HasDst = 1
		}
	}
	if f.Port != 0 {
		k.Sport = f.Port
		k.PortAny = 1
	} else {
		k.Sport, k.Dport = f.Sport, f.Dport
	}
	if f.Reply {
		k.Reply = 1
	}
	return k, nil
}

// String describes the filter for people.
func (f *Filter) String() string {
	var parts []string
	if f.Proto != 0 {
		parts = append(parts, journey.ProtoName(f.Proto))
	}
	if f.Host.IsValid() {
		parts = append(parts, "host "+f.Host.String())
	}
	if f.Src.IsValid() {
		parts = append(parts, "src "+f.Src.String())
	}
	if f.Dst.IsValid() {
		parts = append(parts, "dst "+f.Dst.String())
	}
	if f.Port != 0 {
		parts = append(parts, fmt.Sprintf("port %d", f.Port))
	}
	if f.Sport != 0 {
		parts = append(parts, fmt.Sprintf("sport %d", f.Sport))
	}
	if f.Dport != 0 {
		parts = append(parts, fmt.Sprintf("dport %d", f.Dport))
	}
	if f.Expr != "" {
		if len(parts) > 0 {
			parts = append(parts, "and")
		}
		parts = append(parts, "'"+f.Expr+"'")
	}
	if f.Reply {
		parts = append(parts, "and replies")
	}
	if len(parts) == 0 {
		return "all IP packets"
	}
	return strings.Join(parts, " ")
}
