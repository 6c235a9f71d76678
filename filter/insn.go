package filter

import (
	"fmt"
	"net/netip"
	"strings"
)

// Kind is what one instruction tests.
type Kind uint8

// The kinds of test. Each tests the packet's tuple only: what the kernel
// parsed from its IP and transport headers.
const (
	KindFamily Kind = 1 // the IP version is Family
	KindProto  Kind = 2 // the IP protocol is Proto (and the version Family, unless 0)
	KindNet    Kind = 3 // the address on Side, of version Family, masked by Mask is Addr
	KindPort   Kind = 4 // the port on Side lies in [Lo, Hi]; TCP, UDP or SCTP (or Proto, unless 0)
	// KindTCPFlags: an IPv4 TCP packet whose flags masked by Lo are Hi
	// (Op 0) or are not (Op 1), as tcpdump's tcp[tcpflags] is.
	KindTCPFlags Kind = 5
)

// Side says which of a packet's addresses or ports a test looks at.
type Side uint8

// The sides, as pcap-filter's direction qualifiers say them.
const (
	SideSrc    Side = 1 // src
	SideDst    Side = 2 // dst
	SideEither Side = 3 // src or dst (the default)
	SideBoth   Side = 4 // src and dst
)

// Jump targets past the program's instructions.
const (
	Accept uint8 = 0x80 // the packet matches
	Reject uint8 = 0x81 // the packet does not match
)

// MaxInsns is the most instructions the in-kernel filter holds
// (PL_FILTER_INSNS in bpf/pktlife.h).
const MaxInsns = 16

// Insn is one test. When it holds, the program continues at JT, else at
// JF; jumps only go forward, so a program ends after at most len(Program)
// tests.
type Insn struct {
	Kind   Kind
	Side   Side
	Family uint8 // 4 or 6; 0 = either (KindProto only)
	Proto  uint8
	Addr   [16]byte // IPv4 in the first four bytes, already masked
	Mask   [16]byte
	Lo, Hi uint16
	JT, JF uint8
	Op     uint8 // KindTCPFlags: 0 =, 1 !=
}

// Program is a compiled expression. The empty program matches every packet.
type Program []Insn

// Packet is what a program tests: the tuple the kernel parses from a
// packet's headers.
type Packet struct {
	Family   uint8 // 4 or 6
	Proto    uint8
	Src, Dst netip.Addr
	// Ports says whether Sport and Dport are valid: a TCP, UDP or SCTP
	// packet whose transport header was read (not an IPv4 fragment after
	// the first).
	Ports        bool
	Sport, Dport uint16
	TCPFlags     uint8 // with Ports, of a TCP packet
}

// bytes16 lays an address out as the kernel's tuple does.
func bytes16(a netip.Addr) [16]byte {
	var b [16]byte
	copy(b[:], a.AsSlice())
	return b
}

func (in *Insn) sides(src, dst bool) bool {
	switch in.Side {
	case SideSrc:
		return src
	case SideDst:
		return dst
	case SideBoth:
		return src && dst
	}
	return src || dst
}

func (in *Insn) inNet(a netip.Addr) bool {
	b := bytes16(a)
	for i := range b {
		if b[i]&in.Mask[i] != in.Addr[i] {
			return false
		}
	}
	return true
}

func portProto(p uint8) bool { return p == 6 || p == 17 || p == 132 }

// match runs one test, as bpf/pktlife.c's filter_test does.
func (in *Insn) match(p *Packet) bool {
	switch in.Kind {
	case KindFamily:
		return p.Family == in.Family
	case KindProto:
		return (in.Family == 0 || p.Family == in.Family) && p.Proto == in.Proto
	case KindNet:
		return p.Family == in.Family && in.sides(in.inNet(p.Src), in.inNet(p.Dst))
	case KindPort:
		if !p.Ports || !portProto(p.Proto) || (in.Proto != 0 && p.Proto != in.Proto) {
			return false
		}
		return in.sides(in.Lo <= p.Sport && p.Sport <= in.Hi, in.Lo <= p.Dport && p.Dport <= in.Hi)
	case KindTCPFlags:
		if !p.Ports || p.Family != 4 || p.Proto != 6 {
			return false
		}
		return (uint16(p.TCPFlags)&in.Lo == in.Hi) != (in.Op == 1)
	}
	return false
}

// Match runs the program on a packet in Go, with the kernel's semantics.
func (prog Program) Match(p *Packet) bool {
	if len(prog) == 0 {
		return true
	}
	pc := uint8(0)
	for int(pc) < len(prog) {
		in := &prog[pc]
		if in.match(p) {
			pc = in.JT
		} else {
			pc = in.JF
		}
	}
	return pc == Accept
}

// String lists the program, one instruction a line, for tests and people.
func (prog Program) String() string {
	var b strings.Builder
	for i, in := range prog {
		fmt.Fprintf(&b, "%d: kind %d side %d family %d proto %d lo %d hi %d jt %#x jf %#x\n",
			i, in.Kind, in.Side, in.Family, in.Proto, in.Lo, in.Hi, in.JT, in.JF)
	}
	return b.String()
}
