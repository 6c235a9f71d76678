package check

import (
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/pktlife/pktlife/trace/journey"
)

// Failure is one way a journey differs from its expectation.
type Failure struct {
	// Kind names what differs: "journey" (none seen), "hop" (an expected
	// hop is missing or another is in its place), "extra" (hops after the
	// last expected one), a step field ("dev", "netns", "prog", "progs",
	// "chain", "verdict", "drop_reason", "nat", "budget"), or a journey
	// field ("nat", "fate", "drop_reason", "total").
	Kind     string `json:"kind"`
	Step     int    `json:"step"` // index into the expected path; -1 when not about a step
	Hop      int    `json:"hop"`  // 1-based journey hop; 0 when none
	Expected string `json:"expected"`
	Actual   string `json:"actual"`
	Message  string `json:"message"`
}

// RowStatus says how one row of an alignment compares.
type RowStatus string

const (
	RowMatch    RowStatus = "match"    // the hop matches the step
	RowGap      RowStatus = "gap"      // the hop falls in a "..." gap
	RowDiverge  RowStatus = "diverge"  // the first divergence
	RowUnjudged RowStatus = "unjudged" // after the divergence: not compared
)

// Row pairs an expected step with an observed hop in the side-by-side view.
type Row struct {
	Step   int       `json:"step"` // index into the path, -1 = none
	Hop    int       `json:"hop"`  // index into the journey's hops, -1 = none
	Status RowStatus `json:"status"`
}

// Outcome is the comparison of one journey with one expectation.
type Outcome struct {
	Pass     bool      `json:"pass"`
	Failures []Failure `json:"failures,omitempty"` // the first is the first divergence
	Rows     []Row     `json:"rows,omitempty"`     // nil when the path is not checked
}

// Compare matches j against e. j may be nil: no journey was seen.
func Compare(e *Expect, j *journey.Journey) Outcome {
	var o Outcome
	if j == nil {
		o.Failures = append(o.Failures, Failure{Kind: "journey", Step: -1, Expected: "a journey", Actual: "none",
			Message: fmt.Sprintf("no journey was seen for the %s packet", e.Packet)})
		return o
	}
	if e.Path != nil {
		m := newMatcher(e.Path, j)
		var f *Failure
		o.Rows, f = m.run()
		if f != nil {
			o.Failures = append(o.Failures, *f)
		}
	}
	o.Failures = append(o.Failures, journeyFailures(e, j)...)
	o.Pass = len(o.Failures) == 0
	return o
}

// journeyFailures checks the journey-wide expectations.
func journeyFailures(e *Expect, j *journey.Journey) []Failure {
	var out []Failure
	if e.NATSet {
		if f := compareNATs(e.NAT, j); f != nil {
			out = append(out, *f)
		}
	}
	if e.Fate != "" && j.Fate != e.Fate {
		act := string(j.Fate)
		if j.DropReason != "" {
			act += " (" + j.DropReason + ")"
		}
		hop := 0
		if l := j.Last(); l != nil {
			hop = l.Index
		}
		out = append(out, Failure{Kind: "fate", Step: -1, Hop: hop, Expected: string(e.Fate), Actual: act,
			Message: fmt.Sprintf("fate: expected %s, got %s", e.Fate, act)})
	}
	if e.DropReason != "" && !globMatch(e.DropReason, j.DropReason) {
		out = append(out, Failure{Kind: "drop_reason", Step: -1, Expected: e.DropReason, Actual: orNone(j.DropReason),
			Message: fmt.Sprintf("drop reason: expected %s, got %s", e.DropReason, orNone(j.DropReason))})
	}
	if e.Total > 0 && j.Duration > e.Total {
		out = append(out, Failure{Kind: "total", Step: -1, Expected: "≤ " + e.Total.String(), Actual: fmtDur(j.Duration),
			Message: fmt.Sprintf("total: the journey took %s, budget %s", fmtDur(j.Duration), e.Total)})
	}
	return out
}

func compareNATs(want []NATPattern, j *journey.Journey) *Failure {
	for i := 0; i < max(len(want), len(j.NAT)); i++ {
		switch {
		case i >= len(j.NAT):
			return &Failure{Kind: "nat", Step: -1, Expected: want[i].String(), Actual: "none",
				Message: fmt.Sprintf("nat: expected %s, but the packet was not translated%s", want[i].String(), again(i))}
		case i >= len(want):
			n := j.NAT[i]
			return &Failure{Kind: "nat", Step: -1, Hop: n.Hop, Expected: "no further NAT", Actual: natString(n),
				Message: fmt.Sprintf("nat: unexpected %s at hop %d", natString(n), n.Hop)}
		case !natMatches(want[i], j.NAT[i]):
			n := j.NAT[i]
			return &Failure{Kind: "nat", Step: -1, Hop: n.Hop, Expected: want[i].String(), Actual: natString(n),
				Message: fmt.Sprintf("nat: expected %s, got %s at hop %d", want[i].String(), natString(n), n.Hop)}
		}
	}
	return nil
}

func again(i int) string {
	if i == 0 {
		return ""
	}
	return " again"
}

func natMatches(p NATPattern, n journey.NAT) bool {
	return (p.Kind == "" || p.Kind == n.Kind) && p.Src.Matches(n.New.Src) && p.Dst.Matches(n.New.Dst)
}

func globMatch(g, s string) bool {
	ok, _ := path.Match(g, s)
	return ok
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// identity reports whether h is at the place s names: hook, device and
// namespace. Other differences on such a hop are explained field by field.
func identity(s *Step, h *journey.Hop) bool {
	switch {
	case s.Hook == "tc":
		if !h.Hook.IsTC() {
			return false
		}
	case s.Hook != "" && s.Hook != h.Hook.String():
		return false
	}
	return (s.Dev == "" || globMatch(s.Dev, h.Device.Name)) &&
		(s.Netns == "" || globMatch(s.Netns, h.Device.NetnsName))
}

// fieldFailures lists how h, at the place s names, differs from it. prev is
// the index of the previous matched hop, -1 when none.
func fieldFailures(s *Step, j *journey.Journey, hi, prev int) []Failure {
	h := &j.Hops[hi]
	var out []Failure
	fail := func(kind, exp, act string) {
		out = append(out, Failure{Kind: kind, Expected: exp, Actual: act})
	}
	if s.Prog != "" && !anyProg(s.Prog, h.Progs) {
		fail("prog", s.Prog, "["+progNames(h.Progs)+"]")
	}
	if s.ProgsSet && !progsMatch(s.Progs, h.Progs) {
		fail("progs", "["+strings.Join(s.Progs, ", ")+"]", "["+progNames(h.Progs)+"]")
	}
	if s.ChainSet && !chainMatch(s.Chain, h.TailCalls) {
		fail("chain", ChainString(s.Chain), TailCallString(h.TailCalls))
	}
	if s.Verdict != "" && h.Verdict != s.Verdict {
		fail("verdict", s.Verdict, orNone(h.Verdict))
	}
	if s.DropReason != "" && !globMatch(s.DropReason, h.DropReason) {
		fail("drop_reason", s.DropReason, orNone(h.DropReason))
	}
	if s.NAT != nil {
		if got := natsBetween(j, prev, hi); !anyNAT(*s.NAT, got) {
			act := "none"
			if len(got) > 0 {
				parts := make([]string, len(got))
				for i, n := range got {
					parts[i] = natString(n)
				}
				act = strings.Join(parts, ", ")
			}
			fail("nat", s.NAT.String(), act)
		}
	}
	if s.Budget > 0 {
		if d := sincePrev(j, prev, hi); d > s.Budget {
			fail("budget", "≤ "+s.Budget.String(), fmtDur(d))
		}
	}
	return out
}

// sincePrev is the time from the previous matched hop (or the journey's
// start) to hop hi.
func sincePrev(j *journey.Journey, prev, hi int) time.Duration {
	base := time.Duration(0)
	if prev >= 0 {
		base = j.Hops[prev].At
	}
	return j.Hops[hi].At - base
}

// natsBetween returns the NATs first seen after hop prev and no later than
// hop hi (0-based indexes; NAT.Hop is 1-based).
func natsBetween(j *journey.Journey, prev, hi int) []journey.NAT {
	var out []journey.NAT
	for _, n := range j.NAT {
		if n.Hop > prev+1 && n.Hop <= hi+1 {
			out = append(out, n)
		}
	}
	return out
}

func anyNAT(p NATPattern, ns []journey.NAT) bool {
	for _, n := range ns {
		if natMatches(p, n) {
			return true
		}
	}
	return false
}

func anyProg(g string, ps []journey.Prog) bool {
	for _, p := range ps {
		if globMatch(g, p.Name) {
			return true
		}
	}
	return false
}

func progsMatch(gs []string, ps []journey.Prog) bool {
	if len(gs) != len(ps) {
		return false
	}
	for i := range gs {
		if !globMatch(gs[i], ps[i].Name) {
			return false
		}
	}
	return true
}

// chainMatch matches a chain pattern with gaps against observed tail calls:
// ok[i][k] says whether pat[i:] matches tcs[k:].
func chainMatch(pat []ChainStep, tcs []journey.TailCall) bool {
	ok := make([][]bool, len(pat)+1)
	for i := range ok {
		ok[i] = make([]bool, len(tcs)+1)
	}
	ok[len(pat)][len(tcs)] = true
	for i := len(pat) - 1; i >= 0; i-- {
		for k := len(tcs); k >= 0; k-- {
			if pat[i].Gap {
				ok[i][k] = ok[i+1][k] || (k < len(tcs) && ok[i][k+1])
			} else {
				ok[i][k] = k < len(tcs) && chainStepMatch(pat[i], tcs[k]) && ok[i+1][k+1]
			}
		}
	}
	return ok[0][0]
}

func chainStepMatch(p ChainStep, tc journey.TailCall) bool {
	if p.Map != "" && !globMatch(p.Map, tc.Map) {
		return false
	}
	if p.Slot >= 0 && uint32(p.Slot) != tc.Slot {
		return false
	}
	if p.Missed {
		return tc.Missed
	}
	if tc.Missed {
		return false
	}
	return p.Prog == "" || globMatch(p.Prog, tc.Prog.Name)
}
