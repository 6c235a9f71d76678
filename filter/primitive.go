package filter

import (
	"fmt"
	"strconv"
)

// protoQuals are the protocol qualifiers pktlife understands.
var protoQuals = map[string]bool{
	"ip": true, "ip6": true, "tcp": true, "udp": true, "sctp": true, "icmp": true, "icmp6": true,
}

var typeQuals = map[string]bool{
	"host": true, "net": true, "port": true, "portrange": true, "proto": true,
}

// refused are pcap-filter words the in-kernel filter cannot test, and why.
var refused = map[string]string{
	"less":       "packet lengths differ from hook to hook",
	"greater":    "packet lengths differ from hook to hook",
	"len":        "packet lengths differ from hook to hook",
	"protochain": "IPv6 extension header chains are not followed",
	"gateway":    "link-layer addresses are not seen",
	"broadcast":  "link-layer addresses are not seen",
	"multicast":  "link-layer addresses are not seen",
	"inbound":    "use --iface and the hop names instead",
	"outbound":   "use --iface and the hop names instead",
	"ifname":     "use --iface instead",
	"on":         "use --iface instead",
}

// linkWords are pcap-filter's link-layer and non-IP protocol words.
var linkWords = []string{
	"ether", "arp", "rarp", "vlan", "mpls", "pppoed", "pppoes", "geneve", "vxlan",
	"wlan", "llc", "fddi", "tr", "link", "decnet", "atalk", "aarp", "ipx", "iso",
	"stp", "netbeui", "lat", "moprc", "mopdl", "sca", "isis", "clnp", "esis",
}

func init() {
	for _, w := range linkWords {
		refused[w] = "pktlife filters IP packets by addresses, ports and protocol"
	}
}

// primitive: [proto] [dir] [type] id, or a protocol alone (`tcp`), or an id
// alone, which takes the previous primitive's qualifiers.
func (p *parser) primitive() (*node, error) {
	w := p.peek()
	if why, ok := refused[w]; ok {
		return nil, p.errorf("%q is not supported (%s)", w, why)
	}
	if p.toks[p.i].op {
		return nil, p.errorf("unexpected %q", p.toks[p.i].text)
	}
	var q quals
	if protoQuals[w] {
		q.proto = p.next()
		if p.peek() == "[" && q.proto == "tcp" {
			return p.tcpFlags()
		}
		if p.peek() == "[" {
			return nil, p.errorf("packet byte offsets (%s[...]) are not supported; of them, only tcp[tcpflags] is", q.proto)
		}
	}
	q.side = p.direction()
	if typeQuals[p.peek()] {
		q.typ = p.next()
	}
	if q.side == 0 && q.typ == "" {
		if q.proto != "" {
			return protoOnly(q.proto), nil
		}
		if p.last == nil || !p.afterAndOr() {
			return p.bareID()
		}
		q = *p.last
	}
	if q.typ == "" {
		q.typ = "host"
	}
	if !p.atValue() {
		return nil, p.errorf("%s needs a value", q.typ)
	}
	idTok := p.toks[p.i]
	p.i++
	p.last = &q
	n, err := p.build(q, idTok.text)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", q.typ, idTok.text, err)
	}
	p.lastEnd = p.i
	return n, nil
}

// atValue says whether the next token can be a primitive's value.
func (p *parser) atValue() bool {
	id := p.peek()
	return id != "" && !p.toks[p.i].op && !isAnd(id) && !isOr(id) && id != "not"
}

// direction reads src, dst, src or dst, src and dst (either order).
func (p *parser) direction() Side {
	first := p.peek()
	if first != "src" && first != "dst" {
		return 0
	}
	p.i++
	other := map[string]string{"src": "dst", "dst": "src"}[first]
	if p.peekAt(1) == other {
		switch c := p.peek(); {
		case isOr(c):
			p.i += 2
			return SideEither
		case isAnd(c):
			p.i += 2
			return SideBoth
		}
	}
	if first == "src" {
		return SideSrc
	}
	return SideDst
}

// afterAndOr says whether the value at hand follows the previous qualified
// primitive and an and or or (with not between or not): the places where
// tcpdump lets a value take that primitive's qualifiers (`port 53 or 80`,
// `host a and not b`). Across a parenthesis or a protocol alone tcpdump
// reads them otherwise or not at all, so pktlife refuses them.
func (p *parser) afterAndOr() bool {
	k := p.i - 1
	if k >= 0 && (p.toks[k].text == "not" || p.toks[k].text == "!") {
		k--
	}
	return k >= 0 && k == p.lastEnd && (isAnd(p.toks[k].text) || isOr(p.toks[k].text))
}

// bareID is an id without qualifiers before it where pcap-filter refuses
// it too.
func (p *parser) bareID() (*node, error) {
	w := p.toks[p.i].text
	if _, err := parseAddr(w); err == nil {
		return nil, p.errorf("%q needs a qualifier (say host %s)", w, w)
	}
	if _, err := strconv.ParseUint(w, 10, 16); err == nil {
		return nil, p.errorf("%q needs a qualifier (say port %s or proto %s)", w, w, w)
	}
	return nil, p.errorf("unknown word %q (want a qualifier such as host, net, port, proto, tcp, udp, ip or ip6)", w)
}

func test(in Insn) *node { return &node{op: 't', test: in} }

// protoOnly is a protocol qualifier alone: `tcp` is `ip proto 6 or ip6
// proto 6`, `icmp` is IPv4's, `icmp6` IPv6's.
func protoOnly(q string) *node {
	switch q {
	case "ip":
		return test(Insn{Kind: KindFamily, Family: 4})
	case "ip6":
		return test(Insn{Kind: KindFamily, Family: 6})
	case "icmp":
		return test(Insn{Kind: KindProto, Family: 4, Proto: 1})
	case "icmp6":
		return test(Insn{Kind: KindProto, Family: 6, Proto: 58})
	}
	return test(Insn{Kind: KindProto, Proto: l4Protos[q]})
}

var l4Protos = map[string]uint8{"tcp": 6, "udp": 17, "sctp": 132}
