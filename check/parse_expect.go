package check

import (
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/pktlife/pktlife/trace/journey"
)

// GapToken is how a gap is written in paths and chains.
const GapToken = "..."

// expects reads `expect`: one mapping or a list of them.
func (p *parser) expects(n *yaml.Node, pr *Probe) {
	nodes := []*yaml.Node{n}
	if n.Kind == yaml.SequenceNode {
		nodes = n.Content
	}
	for _, c := range nodes {
		var e Expect
		if p.expect(c, &e, pr.Proto) {
			pr.Expect = append(pr.Expect, e)
		}
	}
}

func (p *parser) expect(n *yaml.Node, e *Expect, proto string) bool {
	e.Pos = posOf(n)
	e.Packet = PacketFirst
	known := []string{"packet", "path", "nat", "fate", "drop_reason", "total"}
	return p.mapping(n, "expect", known, func(key string, v *yaml.Node) {
		switch key {
		case "packet":
			s, ok := p.scalar(v, "packet")
			if !ok {
				return
			}
			switch {
			case s == "first" || (s == "syn" && proto == "tcp"):
				e.Packet = PacketFirst
			case s == "reply" || (s == "synack" && proto == "tcp"):
				e.Packet = PacketReply
			case s == "syn" || s == "synack":
				p.errorf(v, "packet: %s is for tcp probes; use first or reply", s)
			default:
				p.errorf(v, "packet: want first or reply (syn or synack for tcp), got %q", s)
			}
		case "path":
			p.path(v, e)
		case "nat":
			e.NATSet = true
			e.NAT = []NATPattern{}
			if v.Kind == yaml.ScalarNode && v.Value == "none" {
				return
			}
			if v.Kind != yaml.SequenceNode {
				p.errorf(v, "nat: want a list of NATs, [] or none, got %s", kindName(v))
				return
			}
			for _, c := range v.Content {
				np := NATPattern{}
				if p.nat(c, &np) {
					e.NAT = append(e.NAT, np)
				}
			}
		case "fate":
			s, ok := p.scalar(v, "fate")
			if !ok {
				return
			}
			switch f := journey.Fate(s); f {
			case journey.FateDelivered, journey.FateDropped, journey.FateConsumed, journey.FateTransmitted, journey.FateUnknown:
				e.Fate = f
			default:
				p.errorf(v, "fate: want delivered, dropped, consumed, transmitted or unknown, got %q", s)
			}
		case "drop_reason":
			p.glob(v, "drop_reason", &e.DropReason)
		case "total":
			e.TotalPos = posOf(v)
			p.duration(v, "total", &e.Total)
		}
	})
}

func (p *parser) path(n *yaml.Node, e *Expect) {
	if n.Kind != yaml.SequenceNode {
		p.errorf(n, "path: want a list of hops and ... gaps, got %s", kindName(n))
		return
	}
	e.Path = []Step{}
	for _, c := range n.Content {
		if !p.noAlias(c) {
			continue
		}
		if c.Kind == yaml.ScalarNode && c.Value == GapToken {
			e.Path = append(e.Path, Step{Gap: true, Pos: posOf(c)})
			continue
		}
		var s Step
		if p.step(c, &s) {
			e.Path = append(e.Path, s)
		}
	}
}

// stepKeys are the keys of a hop pattern.
var stepKeys = []string{"hook", "dev", "netns", "prog", "progs", "chain", "verdict", "drop_reason", "nat", "budget"}

func (p *parser) step(n *yaml.Node, s *Step) bool {
	s.Pos = posOf(n)
	if n.Kind == yaml.ScalarNode {
		p.errorf(n, "path: want a hop such as {hook: tc-ingress, dev: \"lxc*\"} or %s, got %s", GapToken, kindName(n))
		return false
	}
	var hookNode *yaml.Node
	ok := p.mapping(n, "hop", stepKeys, func(key string, v *yaml.Node) {
		switch key {
		case "hook":
			hookNode = v
			p.str(v, "hook", &s.Hook)
			if s.Hook != "" && s.Hook != "tc" {
				if _, err := journey.ParseHook(s.Hook); err != nil || s.Hook == "unspec" {
					p.errorf(v, "hook: unknown hook %q%s; want tc, %s", s.Hook, suggest(s.Hook, hookNames()), strings.Join(hookNames(), ", "))
				}
			}
		case "dev":
			p.glob(v, "dev", &s.Dev)
		case "netns":
			p.glob(v, "netns", &s.Netns)
		case "prog":
			p.glob(v, "prog", &s.Prog)
		case "progs":
			s.ProgsSet = true
			s.Progs = []string{}
			for _, g := range p.list(v, "progs") {
				if err := checkGlob(g); err != nil {
					p.errorf(v, "progs: bad glob %q: %v", g, err)
					continue
				}
				s.Progs = append(s.Progs, g)
			}
		case "chain":
			s.ChainSet = true
			s.Chain = []ChainStep{}
			if v.Kind == yaml.ScalarNode && v.Value == "none" {
				return
			}
			if v.Kind != yaml.SequenceNode {
				p.errorf(v, "chain: want a list such as [\"[calls/0] nat\", \"[calls/1] policy\"], [] or none, got %s", kindName(v))
				return
			}
			for _, c := range v.Content {
				if !p.noAlias(c) {
					continue
				}
				str, ok := p.scalar(c, "chain")
				if !ok {
					continue
				}
				cs, err := ParseChainStep(str)
				if err != nil {
					p.errorf(c, "chain: %v", err)
					continue
				}
				s.Chain = append(s.Chain, cs)
			}
		case "verdict":
			str, ok := p.scalar(v, "verdict")
			if !ok {
				return
			}
			vd, err := NormalizeVerdict(str)
			if err != nil {
				p.errorf(v, "verdict: %v", err)
				return
			}
			s.Verdict = vd
		case "drop_reason":
			p.glob(v, "drop_reason", &s.DropReason)
		case "nat":
			np := NATPattern{}
			if p.nat(v, &np) {
				s.NAT = &np
			}
		case "budget":
			s.BudgetPos = posOf(v)
			p.duration(v, "budget", &s.Budget)
		}
	})
	if !ok {
		return false
	}
	tcOnly := s.Prog != "" || s.ProgsSet || s.ChainSet || s.Verdict != ""
	if tcOnly && s.Hook != "" && s.Hook != "tc" && !isTCHook(s.Hook) {
		p.errorf(hookNode, "hook: prog, progs, chain and verdict belong to tc hooks (tc, tc-ingress, tc-egress), not %s", s.Hook)
	}
	// tc hops carry a datapath's own reason (Cilium's), kfree_skb the kernel's.
	if s.DropReason != "" && s.Hook != "" && s.Hook != journey.HookKfreeSkb.String() && s.Hook != "tc" && !isTCHook(s.Hook) {
		p.errorf(hookNode, "hook: drop_reason belongs to kfree_skb and tc hops, not %s", s.Hook)
	}
	return true
}

func isTCHook(h string) bool {
	return h == journey.HookTCIngress.String() || h == journey.HookTCEgress.String()
}

// hookNames lists the hooks a step may name.
func hookNames() []string {
	var out []string
	for h := journey.Hook(1); ; h++ {
		n := h.String()
		if strings.HasPrefix(n, "hook-") {
			return out
		}
		out = append(out, n)
	}
}

func (p *parser) nat(n *yaml.Node, np *NATPattern) bool {
	np.Pos = posOf(n)
	return p.mapping(n, "nat", []string{"kind", "src", "dst"}, func(key string, v *yaml.Node) {
		switch key {
		case "kind":
			p.str(v, "nat.kind", &np.Kind)
			switch np.Kind {
			case "dnat", "snat", "nat", "":
			default:
				p.errorf(v, "nat.kind: want dnat, snat or nat, got %q", np.Kind)
			}
		case "src":
			p.addrPort(v, "nat.src", &np.Src)
		case "dst":
			p.addrPort(v, "nat.dst", &np.Dst)
		}
	})
}

var verdicts = []string{"UNSPEC", "OK", "RECLASSIFY", "SHOT", "PIPE", "STOLEN", "QUEUED", "REPEAT", "REDIRECT", "TRAP"}

// NormalizeVerdict accepts "TC_ACT_SHOT", "tc_act_shot" or "shot" and
// returns "TC_ACT_SHOT".
func NormalizeVerdict(s string) (string, error) {
	u := strings.TrimPrefix(strings.ToUpper(s), "TC_ACT_")
	for _, v := range verdicts {
		if u == v {
			return "TC_ACT_" + v, nil
		}
	}
	return "", errorString("unknown verdict " + strconv.Quote(s) + "; want one of TC_ACT_" + strings.Join(verdicts, ", TC_ACT_"))
}

type errorString string

func (e errorString) Error() string { return string(e) }

// ParseChainStep parses one element of a chain pattern: "...",
// "[map/slot] prog", "[map/*] missed", "prog" or "missed".
func ParseChainStep(s string) (ChainStep, error) {
	cs := ChainStep{Slot: -1}
	s = strings.TrimSpace(s)
	if s == GapToken {
		return ChainStep{Gap: true, Slot: -1}, nil
	}
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return cs, errorString("missing ] in " + strconv.Quote(s))
		}
		inner := s[1:end]
		s = strings.TrimSpace(s[end+1:])
		slash := strings.LastIndexByte(inner, '/')
		if slash < 0 {
			return cs, errorString("want [map/slot], got [" + inner + "]")
		}
		cs.Map = inner[:slash]
		if cs.Map == "*" {
			cs.Map = ""
		}
		if err := checkGlob(cs.Map); err != nil {
			return cs, errorString("bad map glob " + strconv.Quote(cs.Map) + ": " + err.Error())
		}
		slot := inner[slash+1:]
		if slot != "*" {
			n, err := strconv.ParseUint(slot, 10, 31)
			if err != nil {
				return cs, errorString("slot: want a number or *, got " + strconv.Quote(slot))
			}
			cs.Slot = int(n)
		}
	}
	if s == "" {
		return cs, errorString("want a program name (or missed) after the slot")
	}
	if strings.ContainsAny(s, " \t") {
		return cs, errorString("want one program name, got " + strconv.Quote(s))
	}
	if s == "missed" {
		cs.Missed = true
		return cs, nil
	}
	if err := checkGlob(s); err != nil {
		return cs, errorString("bad program glob " + strconv.Quote(s) + ": " + err.Error())
	}
	cs.Prog = s
	return cs, nil
}

// String writes the step the way ParseChainStep reads it.
func (c ChainStep) String() string {
	if c.Gap {
		return GapToken
	}
	var b strings.Builder
	if c.Map != "" || c.Slot >= 0 {
		m, slot := c.Map, "*"
		if m == "" {
			m = "*"
		}
		if c.Slot >= 0 {
			slot = strconv.Itoa(c.Slot)
		}
		b.WriteString("[" + m + "/" + slot + "] ")
	}
	switch {
	case c.Missed:
		b.WriteString("missed")
	case c.Prog == "":
		b.WriteString("*")
	default:
		b.WriteString(c.Prog)
	}
	return b.String()
}
