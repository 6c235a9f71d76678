package check

import (
	"fmt"
	"net/netip"
	"os"
	"path"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
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

type parser struct {
	file string
	errs Errors
}

func posOf(n *yaml.Node) Pos {
	if n == nil {
		return Pos{}
	}
	return Pos{n.Line, n.Column}
}

func (p *parser) errorf(n *yaml.Node, format string, args ...any) {
	p.errs = append(p.errs, &Error{File: p.file, Pos: posOf(n), Msg: fmt.Sprintf(format, args...)})
}

func (p *parser) errorAt(pos Pos, format string, args ...any) {
	p.errs = append(p.errs, &Error{File: p.file, Pos: pos, Msg: fmt.Sprintf(format, args...)})
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "nothing"
		}
		return fmt.Sprintf("%q", n.Value)
	case yaml.AliasNode:
		return "an alias"
	}
	return "something else"
}

// noAlias reports aliases, which specs do not use (and which could make a
// small file expand without bound).
func (p *parser) noAlias(n *yaml.Node) bool {
	if n.Kind == yaml.AliasNode {
		p.errorf(n, "anchors and aliases are not supported in specs")
		return false
	}
	return true
}

// mapping walks a mapping node whose keys must be among known, calling fn
// for each pair. what names the mapping in errors.
func (p *parser) mapping(n *yaml.Node, what string, known []string, fn func(key string, v *yaml.Node)) bool {
	if !p.noAlias(n) {
		return false
	}
	if n.Kind != yaml.MappingNode {
		p.errorf(n, "%s: want a mapping, got %s", what, kindName(n))
		return false
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			p.errorf(k, "%s: keys must be plain words", what)
			continue
		}
		if !contains(known, k.Value) {
			p.errorf(k, "unknown key %q in %s%s; known keys: %s", k.Value, what, suggest(k.Value, known), strings.Join(known, ", "))
			continue
		}
		if seen[k.Value] {
			p.errorf(k, "duplicate key %q in %s", k.Value, what)
			continue
		}
		seen[k.Value] = true
		if !p.noAlias(v) {
			continue
		}
		fn(k.Value, v)
	}
	return true
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (p *parser) scalar(n *yaml.Node, what string) (string, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		p.errorf(n, "%s: want a value, got %s", what, kindName(n))
		return "", false
	}
	return n.Value, true
}

func (p *parser) str(n *yaml.Node, what string, dst *string) {
	if s, ok := p.scalar(n, what); ok {
		*dst = s
	}
}

func (p *parser) boolean(n *yaml.Node, what string, dst *bool) {
	s, ok := p.scalar(n, what)
	if !ok {
		return
	}
	switch strings.ToLower(s) {
	case "true", "yes", "on":
		*dst = true
	case "false", "no", "off":
		*dst = false
	default:
		p.errorf(n, "%s: want true or false, got %q", what, s)
	}
}

// duration parses a positive duration such as "50us", "1.5ms", "2s".
func (p *parser) duration(n *yaml.Node, what string, dst *time.Duration) {
	s, ok := p.scalar(n, what)
	if !ok {
		return
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		p.errorf(n, "%s: want a duration such as 50us, 2ms or 1s, got %q", what, s)
		return
	}
	if d <= 0 {
		p.errorf(n, "%s: a budget must be positive, got %s", what, s)
		return
	}
	*dst = d
}

// list accepts a sequence of scalars or a single scalar.
func (p *parser) list(n *yaml.Node, what string) []string {
	if n.Kind == yaml.ScalarNode && n.Tag != "!!null" {
		return []string{n.Value}
	}
	if n.Kind != yaml.SequenceNode {
		p.errorf(n, "%s: want a list, got %s", what, kindName(n))
		return nil
	}
	out := []string{}
	for _, c := range n.Content {
		if !p.noAlias(c) {
			continue
		}
		if s, ok := p.scalar(c, what); ok {
			out = append(out, s)
		}
	}
	return out
}

// glob checks a glob (path.Match syntax: *, ?, [a-z]).
func (p *parser) glob(n *yaml.Node, what string, dst *string) {
	s, ok := p.scalar(n, what)
	if !ok {
		return
	}
	if err := checkGlob(s); err != nil {
		p.errorf(n, "%s: bad glob %q: %v", what, s, err)
		return
	}
	*dst = s
}

func checkGlob(g string) error {
	_, err := path.Match(g, "")
	return err
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
	known := []string{"demo", "netns", "ifaces", "hops", "legacy_tc", "tail_calls", "timeout"}
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
			if s.TailCalls != "" && s.TailCalls != "off" && s.TailCalls != "interpose" {
				p.errorf(v, "tail_calls: want off or interpose, got %q", s.TailCalls)
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
