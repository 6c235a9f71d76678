package check

import (
	"math"
	"net/netip"
	"strings"
	"time"

	"github.com/pktlife/pktlife/trace/journey"
)

// RecordOptions say how an observed journey becomes an expectation.
type RecordOptions struct {
	// AllHops writes every hop with no gaps. By default only the key hops
	// are written — every tc hook and the one that decided the fate — with
	// "..." before, between and after them, so that what the datapath does
	// not decide (how the sender's stack hands the packet over, an ARP
	// round, a clone freed) does not make the next run fail.
	AllHops bool
	// KeepNames writes device, namespace and map names exactly. By default
	// their random parts (runs of hex digits, such as lxc1a2b3c4d or
	// pktlife-demo-0c0f8fed-node) become "*".
	KeepNames bool
	// Chains writes each tc hop's tail-call chain (set when the chains were
	// traced per packet; without that, an empty chain means nothing).
	Chains bool
	// BudgetFactor, when positive, writes latency budgets: each step gets
	// the time observed since the previous step times the factor, and the
	// journey its duration times the factor, rounded up to 1, 2 or 5 times
	// a power of ten and never below BudgetFloor.
	BudgetFactor float64
	// BudgetFloor is the smallest budget written; 0 means DefaultBudgetFloor.
	BudgetFloor time.Duration
}

// DefaultBudgetFloor is the smallest budget recorded by default: on shared
// CI machines a hop now and then waits a millisecond for the CPU, and a
// budget is for catching a hop that became slow, not for timing jitter.
const DefaultBudgetFloor = time.Millisecond

// ExpectFromJourney writes what j did as an expectation for packet p.
func ExpectFromJourney(p Packet, j *journey.Journey, o RecordOptions) Expect {
	e := Expect{Packet: p, Fate: j.Fate, NATSet: true, NAT: []NATPattern{}}
	if j.Fate == journey.FateDropped && j.DropReason != "" {
		e.DropReason = escapeGlob(j.DropReason)
	}
	for _, n := range j.NAT {
		e.NAT = append(e.NAT, natPattern(n))
	}
	keys := keyHops(j, o.AllHops)
	e.Path = []Step{}
	prevIdx := -1
	natNext := 0
	for k, hi := range keys {
		// Between key hops a gap even when they were adjacent this time:
		// an ARP round or a freed clone may come between them next time.
		if (k == 0 && hi > 0) || (k > 0 && (!o.AllHops || hi > prevIdx+1)) {
			e.Path = append(e.Path, Step{Gap: true})
		}
		s := stepFromHop(&j.Hops[hi], o)
		// the NATs seen since the previous written hop belong to this one
		for natNext < len(j.NAT) && j.NAT[natNext].Hop <= hi+1 {
			if s.NAT == nil {
				np := natPattern(j.NAT[natNext])
				s.NAT = &np
			}
			natNext++
		}
		if o.BudgetFactor > 0 {
			s.Budget = budget(sincePrev(j, prevIdx, hi), o)
		}
		e.Path = append(e.Path, s)
		prevIdx = hi
	}
	if prevIdx < len(j.Hops)-1 || (j.Fate == journey.FateDelivered && !o.AllHops) {
		// what follows the decisive hop (the socket freeing a delivered
		// skb, say) is not part of the path
		e.Path = append(e.Path, Step{Gap: true})
	}
	if o.BudgetFactor > 0 {
		e.Total = budget(j.Duration, o)
		for i := range e.Path {
			e.Path[i].Budget = min(e.Path[i].Budget, e.Total)
		}
	}
	return e
}

// keyHops returns the indexes of the hops to write.
func keyHops(j *journey.Journey, all bool) []int {
	var out []int
	if len(j.Hops) == 0 {
		return out
	}
	if all {
		for i := range j.Hops {
			out = append(out, i)
		}
		return out
	}
	end := fateHop(j)
	for i := 0; i <= end; i++ {
		if i == end || j.Hops[i].Hook.IsTC() {
			out = append(out, i)
		}
	}
	return out
}

// fateHop is the hop that decided the journey's fate: the delivery to a
// socket, the drop, or else the last hop.
func fateHop(j *journey.Journey) int {
	switch j.Fate {
	case journey.FateDelivered:
		for i, h := range j.Hops {
			if h.Hook == journey.HookSockDeliver {
				return i
			}
		}
	case journey.FateDropped:
		for i := len(j.Hops) - 1; i >= 0; i-- {
			h := &j.Hops[i]
			if h.Hook == journey.HookKfreeSkb && h.DropReason == j.DropReason {
				return i
			}
		}
	}
	return len(j.Hops) - 1
}

func stepFromHop(h *journey.Hop, o RecordOptions) Step {
	s := Step{Hook: h.Hook.String()}
	name := func(n string) string {
		if o.KeepNames {
			return escapeGlob(n)
		}
		return LoosenName(n)
	}
	s.Dev = name(h.Device.Name)
	s.Netns = name(h.Device.NetnsName)
	if h.Hook.IsTC() {
		s.ProgsSet = true
		s.Progs = []string{}
		for _, p := range h.Progs {
			s.Progs = append(s.Progs, escapeGlob(progName(p)))
		}
		if o.Chains {
			s.ChainSet = true
			s.Chain = []ChainStep{}
			for _, tc := range h.TailCalls {
				cs := tailCallStep(tc)
				cs.Map = name(tc.Map) // unknown: any map (IDs change)
				cs.Prog = escapeGlob(cs.Prog)
				s.Chain = append(s.Chain, cs)
			}
		}
		// "TC_ACT_OK or TC_ACT_REDIRECT" says what pktlife could not
		// tell apart: no verdict to expect.
		if h.Verdict != journey.VerdictOKOrRedirect {
			s.Verdict = h.Verdict
		}
	}
	// kfree_skb's reason, or a datapath's own on its tc hop (Cilium's).
	if (h.Hook == journey.HookKfreeSkb || h.Hook.IsTC()) && h.DropReason != "" {
		s.DropReason = escapeGlob(h.DropReason)
	}
	return s
}

// ephemeralPorts start here (Linux's default ip_local_port_range); a NAT
// that picks such a port picks another next time.
const ephemeralPorts = 32768

func natPattern(n journey.NAT) NATPattern {
	np := NATPattern{Kind: n.Kind}
	side := func(ap netip.AddrPort) AddrPort {
		p := ap.Port()
		if p >= ephemeralPorts {
			p = 0
		}
		return AddrPort{ap.Addr(), p}
	}
	if n.Old.Src != n.New.Src {
		np.Src = side(n.New.Src)
	}
	if n.Old.Dst != n.New.Dst {
		np.Dst = side(n.New.Dst)
	}
	return np
}

// budget scales an observed time into a budget.
func budget(d time.Duration, o RecordOptions) time.Duration {
	floor := o.BudgetFloor
	if floor <= 0 {
		floor = DefaultBudgetFloor
	}
	b := time.Duration(math.Ceil(float64(d) * o.BudgetFactor))
	return max(roundUp125(b), floor)
}

// roundUp125 rounds d up to 1, 2 or 5 times a power of ten nanoseconds.
func roundUp125(d time.Duration) time.Duration {
	if d <= 1 {
		return 1
	}
	for p := time.Duration(1); ; p *= 10 {
		for _, m := range []time.Duration{1, 2, 5} {
			if m*p >= d {
				return m * p
			}
		}
		if p > time.Hour {
			return d
		}
	}
}

// escapeGlob makes a name match only itself as a glob.
func escapeGlob(s string) string {
	if !strings.ContainsAny(s, `*?[\`) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// LoosenName turns the random parts of a name into "*": a word (between
// punctuation) of six or more hex digits, or of four or five with a
// decimal digit among them, such as the 0c0f8fed of
// pktlife-demo-0c0f8fed-node; or a hex tail of eight or more characters
// (six or seven with a decimal digit), such as lxc1a2b3c4d5e6 → "lx*" (the
// c of lxc is a hex digit too: the glob errs on the loose side). Short
// numbers (eth0, cni0) stay. The rest of the name is escaped.
func LoosenName(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		if !isAlnum(s[i]) {
			b.WriteString(escapeGlob(s[i : i+1]))
			i++
			continue
		}
		k := i
		for k < len(s) && isAlnum(s[k]) {
			k++
		}
		b.WriteString(loosenWord(s[i:k]))
		i = k
	}
	return b.String()
}

func loosenWord(w string) string {
	tail := len(w)
	for tail > 0 && isHex(w[tail-1]) {
		tail--
	}
	run := w[tail:]
	digits := strings.IndexFunc(run, func(r rune) bool { return r >= '0' && r <= '9' }) >= 0
	switch {
	case tail == 0 && (len(run) >= 6 || (len(run) >= 4 && digits)):
		return "*"
	case tail > 0 && (len(run) >= 8 || (len(run) >= 6 && digits)):
		return w[:tail] + "*"
	}
	return w
}

func isAlnum(c byte) bool { return isHex(c) || (c >= 'g' && c <= 'z') || (c >= 'G' && c <= 'Z') }

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isHex(c byte) bool { return isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') }
