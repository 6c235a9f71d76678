package check

import (
	"bytes"
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Format writes s as YAML that Parse reads back to the same spec. comment,
// when not empty, heads the document (one "# " line per line).
func Format(s *Spec, comment string) ([]byte, error) {
	root := mapNode()
	root.HeadComment = comment
	add(root, "version", scalar(strconv.Itoa(Version)))
	if setup := formatSetup(&s.Setup); len(setup.Content) > 0 {
		add(root, "setup", setup)
	}
	probes := seqNode()
	for i := range s.Probes {
		probes.Content = append(probes.Content, formatProbe(&s.Probes[i]))
	}
	add(root, "probes", probes)
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(&yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{root}}); err != nil {
		return nil, fmt.Errorf("format spec: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("format spec: %w", err)
	}
	// The encoder quotes "..." (a document end marker at the start of a
	// line); as a list item it is a plain string, and reads better bare.
	return gapQuotes.ReplaceAll(b.Bytes(), []byte("$1...")), nil
}

var gapQuotes = regexp.MustCompile(`(?m)^(\s*- )'\.\.\.'$`)

func mapNode() *yaml.Node { return &yaml.Node{Kind: yaml.MappingNode} }
func seqNode() *yaml.Node { return &yaml.Node{Kind: yaml.SequenceNode} }
func flowMap() *yaml.Node { return &yaml.Node{Kind: yaml.MappingNode, Style: yaml.FlowStyle} }
func flowSeq() *yaml.Node { return &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle} }
func scalar(v string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Value: v}
}

// quoted is a string scalar that must stay a string ("on", "1", "...").
func quoted(v string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Value: v, Tag: "!!str"}
}

func add(m *yaml.Node, key string, v *yaml.Node) {
	m.Content = append(m.Content, scalar(key), v)
}

func addStr(m *yaml.Node, key, v string) {
	if v != "" {
		add(m, key, quoted(v))
	}
}

func strSeq(vs []string) *yaml.Node {
	n := flowSeq()
	for _, v := range vs {
		n.Content = append(n.Content, quoted(v))
	}
	return n
}

// FormatDuration writes d the way specs read it, in ASCII: "50us", "1.5ms".
func FormatDuration(d time.Duration) string {
	return strings.ReplaceAll(d.String(), "µ", "u")
}

func formatSetup(s *Setup) *yaml.Node {
	m := mapNode()
	if s.Demo {
		add(m, "demo", scalar("true"))
	}
	if len(s.Netns) > 0 {
		add(m, "netns", strSeq(s.Netns))
	}
	if len(s.Ifaces) > 0 {
		add(m, "ifaces", strSeq(s.Ifaces))
	}
	if len(s.Hops) > 0 {
		add(m, "hops", strSeq(s.Hops))
	}
	if s.LegacyTC {
		add(m, "legacy_tc", scalar("true"))
	}
	addStr(m, "tail_calls", s.TailCalls)
	addStr(m, "filter", s.Filter)
	if s.Timeout > 0 {
		add(m, "timeout", scalar(FormatDuration(s.Timeout)))
	}
	return m
}

func formatProbe(p *Probe) *yaml.Node {
	m := mapNode()
	addStr(m, "name", p.Name)
	add(m, "proto", scalar(p.Proto))
	switch {
	case p.From.Netns != "" && (p.From.Addr.IsValid() || looksLikeAddr(p.From.Netns)):
		f := flowMap()
		addStr(f, "netns", p.From.Netns)
		if p.From.Addr.IsValid() {
			add(f, "addr", scalar(p.From.Addr.String()))
		}
		add(m, "from", f)
	case p.From.Netns != "":
		addStr(m, "from", p.From.Netns)
	case p.From.Addr.IsValid():
		add(m, "from", scalar(p.From.Addr.String()))
	}
	if p.Proto == "icmp" {
		add(m, "to", scalar(p.To.Addr().String()))
	} else {
		add(m, "to", scalar(p.To.String()))
	}
	addStr(m, "payload", p.Payload)
	if p.Listen != nil {
		l := flowMap()
		addStr(l, "netns", p.Listen.Netns)
		add(l, "addr", scalar(p.Listen.Addr.String()))
		add(m, "listen", l)
	}
	if len(p.Expect) > 0 {
		es := seqNode()
		for i := range p.Expect {
			es.Content = append(es.Content, formatExpect(&p.Expect[i]))
		}
		add(m, "expect", es)
	}
	return m
}

func formatExpect(e *Expect) *yaml.Node {
	m := mapNode()
	add(m, "packet", scalar(string(e.Packet)))
	if e.Path != nil {
		path := seqNode()
		for i := range e.Path {
			path.Content = append(path.Content, formatStep(&e.Path[i]))
		}
		add(m, "path", path)
	}
	if e.NATSet {
		if len(e.NAT) == 0 {
			add(m, "nat", scalar("none"))
		} else {
			ns := seqNode()
			for _, n := range e.NAT {
				ns.Content = append(ns.Content, formatNAT(n))
			}
			add(m, "nat", ns)
		}
	}
	if e.Fate != "" {
		add(m, "fate", scalar(string(e.Fate)))
	}
	addStr(m, "drop_reason", e.DropReason)
	if e.Total > 0 {
		add(m, "total", scalar(FormatDuration(e.Total)))
	}
	return m
}

func formatStep(s *Step) *yaml.Node {
	if s.Gap {
		return scalar(GapToken)
	}
	m := flowMap()
	addStr(m, "hook", s.Hook)
	addStr(m, "dev", s.Dev)
	addStr(m, "netns", s.Netns)
	addStr(m, "prog", s.Prog)
	if s.ProgsSet {
		add(m, "progs", strSeq(s.Progs))
	}
	if s.ChainSet {
		c := flowSeq()
		for _, cs := range s.Chain {
			c.Content = append(c.Content, quoted(cs.String()))
		}
		add(m, "chain", c)
	}
	addStr(m, "verdict", s.Verdict)
	addStr(m, "drop_reason", s.DropReason)
	if s.NAT != nil {
		add(m, "nat", formatNAT(*s.NAT))
	}
	if s.Budget > 0 {
		add(m, "budget", scalar(FormatDuration(s.Budget)))
	}
	return m
}

func formatNAT(n NATPattern) *yaml.Node {
	m := flowMap()
	addStr(m, "kind", n.Kind)
	if !n.Src.IsZero() {
		add(m, "src", quoted(n.Src.String()))
	}
	if !n.Dst.IsZero() {
		add(m, "dst", quoted(n.Dst.String()))
	}
	return m
}

// looksLikeAddr reports whether a namespace name would read as an address.
func looksLikeAddr(s string) bool {
	_, err := netip.ParseAddr(s)
	return err == nil
}
