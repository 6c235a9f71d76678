package check

import (
	"fmt"
	"strings"
	"time"

	"github.com/pktlife/pktlife/trace/journey"
)

// String describes the step in one line, in the spec's own terms:
// "tc-ingress dev=lxc-poda netns=*-node chain=[demo_calls/0] demo_nat".
func (s Step) String() string {
	if s.Gap {
		return GapToken
	}
	var parts []string
	add := func(k, v string) {
		if v != "" {
			parts = append(parts, k+"="+v)
		}
	}
	hook := s.Hook
	if hook == "" {
		hook = "any hook"
	}
	parts = append(parts, hook)
	add("dev", s.Dev)
	add("netns", s.Netns)
	add("prog", s.Prog)
	if s.ProgsSet {
		parts = append(parts, "progs=["+strings.Join(s.Progs, ", ")+"]")
	}
	if s.ChainSet {
		parts = append(parts, "chain="+ChainString(s.Chain))
	}
	add("verdict", s.Verdict)
	add("drop_reason", s.DropReason)
	if s.NAT != nil {
		parts = append(parts, s.NAT.String())
	}
	if s.Budget > 0 {
		parts = append(parts, "budget="+s.Budget.String())
	}
	return strings.Join(parts, " ")
}

// ChainString writes a chain pattern: "[m/0] a → [m/1] b", or "none".
func ChainString(c []ChainStep) string {
	if len(c) == 0 {
		return "none"
	}
	parts := make([]string, len(c))
	for i, s := range c {
		parts[i] = s.String()
	}
	return strings.Join(parts, " → ")
}

func (n NATPattern) String() string {
	kind := n.Kind
	if kind == "" {
		kind = "nat"
	}
	var parts []string
	parts = append(parts, kind)
	if !n.Src.IsZero() {
		parts = append(parts, "src→"+n.Src.String())
	}
	if !n.Dst.IsZero() {
		parts = append(parts, "dst→"+n.Dst.String())
	}
	return strings.Join(parts, " ")
}

// HopString describes an observed hop in one line, in the spec's terms.
func HopString(h *journey.Hop) string {
	parts := []string{h.Hook.String()}
	if h.Kfunc() != "" {
		parts[0] += "(" + h.Kfunc() + ")"
	}
	if h.Device.Name != "" {
		parts = append(parts, "dev="+h.Device.Name)
	}
	if h.Device.NetnsName != "" {
		parts = append(parts, "netns="+h.Device.NetnsName)
	}
	if len(h.Progs) > 0 {
		parts = append(parts, "progs=["+progNames(h.Progs)+"]")
	}
	if len(h.TailCalls) > 0 {
		parts = append(parts, "chain="+TailCallString(h.TailCalls))
	}
	if h.Verdict != "" {
		parts = append(parts, "verdict="+h.Verdict)
	}
	if h.DropReason != "" {
		parts = append(parts, "drop_reason="+h.DropReason)
	}
	return strings.Join(parts, " ")
}

func progNames(ps []journey.Prog) string {
	names := make([]string, len(ps))
	for i, p := range ps {
		names[i] = progName(p)
	}
	return strings.Join(names, ", ")
}

func progName(p journey.Prog) string {
	if p.Name != "" {
		return p.Name
	}
	return fmt.Sprintf("prog#%d", p.ID)
}

// TailCallString writes observed tail calls the way chain patterns are
// written: "[demo_calls/0] demo_nat → [demo_calls/1] demo_policy".
func TailCallString(tcs []journey.TailCall) string {
	if len(tcs) == 0 {
		return "none"
	}
	parts := make([]string, len(tcs))
	for i, tc := range tcs {
		parts[i] = tailCallStep(tc).String()
	}
	return strings.Join(parts, " → ")
}

// tailCallStep is the exact pattern of one observed tail call.
func tailCallStep(tc journey.TailCall) ChainStep {
	m := tc.Map
	if m == "" {
		m = fmt.Sprintf("map#%d", tc.MapID)
	}
	cs := ChainStep{Map: m, Slot: int(tc.Slot), Missed: tc.Missed}
	if !tc.Missed {
		cs.Prog = progName(tc.Prog)
	}
	return cs
}

func natString(n journey.NAT) string {
	var parts []string
	parts = append(parts, n.Kind)
	if n.Old.Src != n.New.Src {
		parts = append(parts, "src→"+n.New.Src.String())
	}
	if n.Old.Dst != n.New.Dst {
		parts = append(parts, "dst→"+n.New.Dst.String())
	}
	return strings.Join(parts, " ")
}

// fmtDur formats a duration shortly: "812ns", "3.1µs", "1.25ms".
func fmtDur(d time.Duration) string {
	switch {
	case d < time.Microsecond:
		return fmt.Sprintf("%dns", d)
	case d < time.Millisecond:
		return fmt.Sprintf("%.1fµs", float64(d)/1e3)
	case d < time.Second:
		return fmt.Sprintf("%.2fms", float64(d)/1e6)
	}
	return fmt.Sprintf("%.2fs", d.Seconds())
}
