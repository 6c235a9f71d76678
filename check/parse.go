package check

import (
	"fmt"
	"net/netip"
	"os"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/pktlife/pktlife/filter"
	"github.com/pktlife/pktlife/trace/tailcall/mode"
)

// Load reads and parses the spec file at name.
func Load(name string) (*Spec, error) {
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("read spec: %w", err)
	}
	return Parse(name, data)
}

// Parse parses and validates a spec. file names it in errors. The error,
// when not nil, is an Errors listing every problem found, each at its
// file:line:col.
func Parse(file string, data []byte) (*Spec, error) {
	p := &parser{file: file}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		p.errs = append(p.errs, yamlError(file, err))
		return nil, p.errs
	}
	s := &Spec{File: file}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		p.errorf(nil, "empty spec: want a mapping with probes")
		return nil, p.errs
	}
	p.spec(doc.Content[0], s)
	if len(p.errs) == 0 {
		p.validate(s)
	}
	if len(p.errs) > 0 {
		return nil, p.errs.sorted()
	}
	return s, nil
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// yamlError turns a YAML syntax error into an Error with a line.
func yamlError(file string, err error) *Error {
	msg := err.Error()
	e := &Error{File: file, Msg: msg}
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		e.Pos.Line, _ = strconv.Atoi(m[1])
		e.Msg = "YAML: " + m[2]
	} else {
		e.Msg = "YAML: " + strings.TrimPrefix(msg, "yaml: ")
	}
	if strings.Contains(msg, "unknown anchor") || strings.Contains(msg, "did not find expected alphabetic or numeric character") {
		e.Msg += ` (quote globs that start with "*", e.g. netns: "*-poda")`
	}
	return e
}

func (p *parser) spec(n *yaml.Node, s *Spec) {
	p.mapping(n, "spec", []string{"version", "setup", "probes"}, func(key string, v *yaml.Node) {
		switch key {
		case "version":
			if v.Value != strconv.Itoa(Version) {
				p.errorf(v, "version: this pktlife reads version %d specs, not %s", Version, kindName(v))
			}
		case "setup":
			p.setup(v, &s.Setup)
		case "probes":
			if v.Kind != yaml.SequenceNode {
				p.errorf(v, "probes: want a list, got %s", kindName(v))
				return
			}
			for _, c := range v.Content {
				var pr Probe
				if p.probe(c, &pr) {
					s.Probes = append(s.Probes, pr)
				}
			}
		}
	})
}

func (p *parser) setup(n *yaml.Node, s *Setup) {
	s.Pos = posOf(n)
	known := []string{"demo", "netns", "ifaces", "hops", "legacy_tc", "tail_calls", "filter", "timeout"}
	p.mapping(n, "setup", known, func(key string, v *yaml.Node) {
		switch key {
		case "demo":
			p.boolean(v, "demo", &s.Demo)
		case "netns":
			if l := p.list(v, "netns"); len(l) > 0 {
				s.Netns = l
			}
		case "ifaces":
			for _, g := range p.list(v, "ifaces") {
				if err := checkGlob(g); err != nil {
					p.errorf(v, "ifaces: bad glob %q: %v", g, err)
				}
				s.Ifaces = append(s.Ifaces, g)
			}
		case "hops":
			if l := p.list(v, "hops"); len(l) > 0 {
				s.Hops = l
			}
		case "legacy_tc":
			p.boolean(v, "legacy_tc", &s.LegacyTC)
		case "tail_calls":
			p.str(v, "tail_calls", &s.TailCalls)
			if s.TailCalls != "" && s.TailCalls != mode.Off && s.TailCalls != mode.Interpose {
				p.errorf(v, "tail_calls: want %s, got %q", mode.List(mode.Off, mode.Interpose), s.TailCalls)
			}
		case "filter":
			p.str(v, "filter", &s.Filter)
			if _, err := filter.Compile(s.Filter); err != nil {
				p.errorf(v, "filter: %v", err)
			}
		case "timeout":
			p.duration(v, "timeout", &s.Timeout)
		}
	})
}

func (p *parser) probe(n *yaml.Node, pr *Probe) bool {
	pr.Pos = posOf(n)
	known := []string{"name", "proto", "from", "to", "payload", "listen", "expect"}
	var toNode, expectNode *yaml.Node
	ok := p.mapping(n, "probe", known, func(key string, v *yaml.Node) {
		switch key {
		case "name":
			p.str(v, "name", &pr.Name)
		case "proto":
			p.str(v, "proto", &pr.Proto)
			switch pr.Proto {
			case "udp", "tcp", "icmp":
			default:
				p.errorf(v, "proto: want udp, tcp or icmp, got %q", pr.Proto)
			}
		case "from":
			p.endpoint(v, &pr.From)
		case "to":
			toNode = v
		case "payload":
			p.str(v, "payload", &pr.Payload)
		case "listen":
			pr.Listen = &Listen{}
			p.listen(v, pr.Listen)
		case "expect":
			expectNode = v
		}
	})
	if !ok {
		return false
	}
	if pr.Proto == "" {
		p.errorf(n, "probe: proto is missing (udp, tcp or icmp)")
	}
	if toNode == nil {
		p.errorf(n, "probe: to is missing (the destination, e.g. 10.96.0.10:80)")
	} else {
		p.destination(toNode, pr)
	}
	if expectNode != nil {
		p.expects(expectNode, pr)
	}
	return true
}

// endpoint reads `from`: a namespace name or path, an address, or a
// mapping with netns and addr.
func (p *parser) endpoint(n *yaml.Node, e *Endpoint) {
	if n.Kind == yaml.ScalarNode {
		s, ok := p.scalar(n, "from")
		if !ok {
			return
		}
		if a, err := netip.ParseAddr(s); err == nil {
			e.Addr = a
		} else {
			e.Netns = s
		}
		return
	}
	p.mapping(n, "from", []string{"netns", "addr"}, func(key string, v *yaml.Node) {
		switch key {
		case "netns":
			p.str(v, "from.netns", &e.Netns)
		case "addr":
			s, ok := p.scalar(v, "from.addr")
			if !ok {
				return
			}
			a, err := netip.ParseAddr(s)
			if err != nil {
				p.errorf(v, "from.addr: want an IP address, got %q", s)
				return
			}
			e.Addr = a
		}
	})
}

func (p *parser) listen(n *yaml.Node, l *Listen) {
	var addrSeen bool
	p.mapping(n, "listen", []string{"netns", "addr"}, func(key string, v *yaml.Node) {
		switch key {
		case "netns":
			p.str(v, "listen.netns", &l.Netns)
		case "addr":
			addrSeen = true
			s, ok := p.scalar(v, "listen.addr")
			if !ok {
				return
			}
			ap, err := netip.ParseAddrPort(s)
			if err != nil || ap.Port() == 0 {
				p.errorf(v, "listen.addr: want address:port, got %q", s)
				return
			}
			l.Addr = ap
		}
	})
	if n.Kind == yaml.MappingNode && !addrSeen {
		p.errorf(n, "listen: addr is missing (address:port to listen on)")
	}
}

func (p *parser) destination(n *yaml.Node, pr *Probe) {
	s, ok := p.scalar(n, "to")
	if !ok {
		return
	}
	if pr.Proto == "icmp" {
		a, err := netip.ParseAddr(s)
		if err != nil {
			p.errorf(n, "to: an icmp probe goes to an address without port, got %q", s)
			return
		}
		pr.To = netip.AddrPortFrom(a, 0)
		return
	}
	ap, err := netip.ParseAddrPort(s)
	if err != nil || ap.Port() == 0 {
		p.errorf(n, "to: want address:port (e.g. 10.96.0.10:80), got %q", s)
		return
	}
	pr.To = ap
}

// addrPort reads "addr" or "addr:port" for NAT patterns.
func (p *parser) addrPort(n *yaml.Node, what string, dst *AddrPort) {
	s, ok := p.scalar(n, what)
	if !ok {
		return
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		*dst = AddrPort{ap.Addr(), ap.Port()}
		return
	}
	if a, err := netip.ParseAddr(s); err == nil {
		*dst = AddrPort{Addr: a}
		return
	}
	p.errorf(n, "%s: want address or address:port, got %q", what, s)
}
