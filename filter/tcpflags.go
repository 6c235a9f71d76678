package filter

import (
	"strconv"
	"strings"
)

// tcpFlagNames are pcap-filter's names of the TCP flags' bits.
var tcpFlagNames = map[string]uint16{
	"tcp-fin": 0x01, "tcp-syn": 0x02, "tcp-rst": 0x04, "tcp-push": 0x08,
	"tcp-ack": 0x10, "tcp-urg": 0x20, "tcp-ece": 0x40, "tcp-cwr": 0x80,
}

// tcpFlags reads the one packet byte test the kernel's tuple can answer:
// tcp[tcpflags] (or tcp[13]), masked by & V or not, compared by =, == or
// != with V, where V is a number or flag names joined by |, in
// parentheses or not. As in tcpdump it matches IPv4 packets only.
func (p *parser) tcpFlags() (*node, error) {
	p.i++ // [
	switch p.next() {
	case "tcpflags", "13", "13:1":
	default:
		p.i--
		return nil, p.errorf("packet byte offsets (tcp[...]) are not supported; of them, only tcp[tcpflags] is")
	}
	if p.next() != "]" {
		p.i--
		return nil, p.errorf("missing ]")
	}
	in := Insn{Kind: KindTCPFlags, Family: 4, Proto: 6, Lo: 0xff}
	var err error
	if p.peek() == "&" {
		p.i++
		if in.Lo, err = p.flagValue(false); err != nil {
			return nil, err
		}
	}
	switch p.next() {
	case "=", "==":
	case "!=":
		in.Op = 1
	default:
		p.i--
		return nil, p.errorf("tcp[tcpflags] is compared with =, == or != only")
	}
	if in.Hi, err = p.flagValue(true); err != nil {
		return nil, err
	}
	return test(in), nil
}

// flagValue reads a number or flag names joined by |, in parentheses or,
// where bare is set, not: a mask must have them, for tcpdump reads
// `& tcp-syn|tcp-ack` as `(tcp[13] & tcp-syn) | tcp-ack`.
func (p *parser) flagValue(bare bool) (uint16, error) {
	paren := p.peek() == "("
	if paren {
		p.i++
	}
	var v uint16
	for {
		w := p.peek()
		n, ok := tcpFlagNames[w]
		if !ok {
			x, err := strconv.ParseUint(w, 0, 8)
			if err != nil || strings.HasPrefix(w, "-") {
				return 0, p.errorf("want a number 0-255 or TCP flag names such as tcp-syn|tcp-ack")
			}
			n = uint16(x)
		}
		p.i++
		v |= n
		if p.peek() != "|" {
			break
		}
		if !paren && !bare {
			return 0, p.errorf("put a mask of several flags in parentheses: & (tcp-syn|tcp-ack)")
		}
		p.i++
	}
	if paren {
		if p.peek() != ")" {
			return 0, p.errorf("missing )")
		}
		p.i++
	}
	return v, nil
}
