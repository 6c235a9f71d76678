package filter

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// build turns a qualified id into a test.
func (p *parser) build(q quals, id string) (*node, error) {
	switch q.typ {
	case "host", "net":
		return p.buildNet(q, id)
	case "port", "portrange":
		return buildPort(q, id)
	}
	return buildProto(q, id)
}

func familyOf(q quals) (uint8, error) {
	switch q.proto {
	case "":
		return 0, nil
	case "ip":
		return 4, nil
	case "ip6":
		return 6, nil
	}
	return 0, fmt.Errorf("%q cannot qualify %s", q.proto, q.typ)
}

// buildNet builds host and net tests; `net A mask M` reads two more tokens.
func (p *parser) buildNet(q quals, id string) (*node, error) {
	fam, err := familyOf(q)
	if err != nil {
		return nil, err
	}
	var pfx netip.Prefix
	if q.typ == "host" {
		a, err := parseAddr(id)
		if err != nil {
			return nil, err
		}
		pfx = netip.PrefixFrom(a, a.BitLen())
	} else if pfx, err = parseNet(id); err != nil {
		return nil, err
	}
	mask := maskBits(pfx.Addr().Is4(), pfx.Bits())
	if q.typ == "net" && !strings.Contains(id, "/") && p.peek() == "mask" {
		if mask, err = p.readMask(pfx.Addr()); err != nil {
			return nil, err
		}
	}
	pf := uint8(6)
	if pfx.Addr().Is4() {
		pf = 4
	}
	if fam != 0 && fam != pf {
		return nil, fmt.Errorf("an IPv%d address cannot be qualified by %s", pf, q.proto)
	}
	in := Insn{Kind: KindNet, Side: sideOr(q.side), Family: pf, Addr: bytes16(pfx.Addr()), Mask: mask}
	for i := range in.Addr {
		if in.Addr[i]&^in.Mask[i] != 0 {
			return nil, errors.New("non-network bits set")
		}
	}
	return test(in), nil
}

func sideOr(s Side) Side {
	if s == 0 {
		return SideEither
	}
	return s
}

// readMask reads `mask M` after an IPv4 network.
func (p *parser) readMask(net netip.Addr) ([16]byte, error) {
	var m [16]byte
	p.i++ // mask
	if !net.Is4() {
		return m, errors.New("mask applies to IPv4 networks only")
	}
	w := p.peek()
	if w == "" {
		return m, errors.New("mask needs an IPv4 address")
	}
	p.i++
	a, err := netip.ParseAddr(w)
	if err != nil || !a.Is4() {
		return m, fmt.Errorf("mask %q is not an IPv4 address", w)
	}
	copy(m[:], a.AsSlice())
	return m, nil
}

func maskBits(v4 bool, bits int) [16]byte {
	var m [16]byte
	n := 16
	if v4 {
		n = 4
	}
	for i := 0; i < n && bits > 0; i++ {
		b := min(bits, 8)
		m[i] = byte(0xff << (8 - b))
		bits -= b
	}
	return m
}

// parseAddr parses an IPv4 or IPv6 address; names are not resolved.
func parseAddr(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("want an IPv4 or IPv6 address (host names are not resolved)")
	}
	if a.Zone() != "" {
		return netip.Addr{}, errors.New("addresses with a zone are not supported")
	}
	return a, nil // ::ffff:10.0.0.1 stays IPv6, as in tcpdump
}

// parseNet parses A/len, an IPv6 address, or an IPv4 network with one to
// four octets (10 is 10.0.0.0/8, 10.1 is 10.1.0.0/16), as pcap-filter does.
func parseNet(s string) (netip.Prefix, error) {
	addr, bitsStr, slash := strings.Cut(s, "/")
	var a netip.Addr
	bits := -1
	if strings.Contains(addr, ":") {
		x, err := parseAddr(addr)
		if err != nil {
			return netip.Prefix{}, err
		}
		a, bits = x, 128
	} else {
		x, n, err := parseV4Net(addr)
		if err != nil {
			return netip.Prefix{}, err
		}
		a, bits = x, n
	}
	if slash {
		n, err := strconv.Atoi(bitsStr)
		if err != nil || n < 0 || n > a.BitLen() {
			return netip.Prefix{}, fmt.Errorf("bad prefix length %q", bitsStr)
		}
		bits = n
	}
	return netip.PrefixFrom(a, bits), nil
}

func parseV4Net(s string) (netip.Addr, int, error) {
	parts := strings.Split(s, ".")
	if len(parts) > 4 {
		return netip.Addr{}, 0, errors.New("want an IPv4 or IPv6 network")
	}
	var b [4]byte
	for i, x := range parts {
		n, err := strconv.ParseUint(x, 10, 8)
		if err != nil {
			return netip.Addr{}, 0, errors.New("want an IPv4 or IPv6 network (host names are not resolved)")
		}
		b[i] = byte(n)
	}
	return netip.AddrFrom4(b), 8 * len(parts), nil
}

// ports are the service names pcap-filter users type most.
var ports = map[string]uint16{
	"ftp-data": 20, "ftp": 21, "ssh": 22, "telnet": 23, "smtp": 25, "domain": 53,
	"bootps": 67, "bootpc": 68, "tftp": 69, "http": 80, "ntp": 123, "snmp": 161,
	"bgp": 179, "https": 443, "syslog": 514,
}

func parsePort(s string) (uint16, error) {
	if n, ok := ports[strings.ToLower(s)]; ok {
		return n, nil
	}
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil {
		return 0, fmt.Errorf("want a port number 0-65535 or a service name such as domain")
	}
	return uint16(n), nil
}

func buildPort(q quals, id string) (*node, error) {
	in := Insn{Kind: KindPort, Side: sideOr(q.side)}
	if q.proto != "" {
		pr, ok := l4Protos[q.proto]
		if !ok {
			return nil, fmt.Errorf("%q cannot qualify %s (want tcp, udp or sctp)", q.proto, q.typ)
		}
		in.Proto = pr
	}
	var err error
	if q.typ == "port" {
		in.Lo, err = parsePort(id)
		in.Hi = in.Lo
		return test(in), err
	}
	lo, hi, ok := strings.Cut(id, "-")
	if !ok {
		return nil, errors.New("want a range such as 1000-2000")
	}
	if in.Lo, err = parsePort(lo); err != nil {
		return nil, err
	}
	if in.Hi, err = parsePort(hi); err != nil {
		return nil, err
	}
	if in.Lo > in.Hi {
		in.Lo, in.Hi = in.Hi, in.Lo
	}
	return test(in), nil
}

// protoNames are the names `proto \name` takes.
var protoNames = map[string]uint8{
	"icmp": 1, "igmp": 2, "ipip": 4, "tcp": 6, "udp": 17, "gre": 47, "esp": 50,
	"ah": 51, "icmp6": 58, "ipv6-icmp": 58, "pim": 103, "vrrp": 112, "sctp": 132,
}

func buildProto(q quals, id string) (*node, error) {
	if q.side != 0 {
		return nil, errors.New("proto takes no direction")
	}
	fam, err := familyOf(q)
	if err != nil {
		return nil, err
	}
	name := strings.TrimPrefix(strings.ToLower(id), "\\")
	n, ok := protoNames[name]
	if !ok {
		v, err := strconv.ParseUint(id, 10, 8)
		if err != nil {
			return nil, errors.New("want a protocol number 0-255 or a name such as \\tcp")
		}
		n = uint8(v)
	}
	return test(Insn{Kind: KindProto, Family: fam, Proto: n}), nil
}
