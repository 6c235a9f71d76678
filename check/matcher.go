package check

import (
	"fmt"
	"slices"
	"strings"

	"github.com/pktlife/pktlife/trace/journey"
)

// matcher aligns a path of steps with a journey's hops. It searches
// leftmost-first with memoised failures; when no alignment exists, the
// partial alignment that got furthest through the steps locates the first
// divergence.
type matcher struct {
	steps  []Step
	j      *journey.Journey
	failed map[state]bool
	trail  []Row
	best   struct {
		i, j, prev int
		trail      []Row
	}
}

// state is a point in the search: step i next, hop j next, prev the last
// matched hop (-1 none). Budgets and NAT depend on prev.
type state struct{ i, j, prev int }

func newMatcher(steps []Step, j *journey.Journey) *matcher {
	m := &matcher{steps: steps, j: j, failed: map[state]bool{}}
	m.best.i = -1
	return m
}

// run returns the alignment and, when there is none, the first divergence.
func (m *matcher) run() ([]Row, *Failure) {
	if m.walk(0, 0, -1) {
		return m.showEmptyGaps(m.trail), nil
	}
	rows, f := m.explain()
	return m.showEmptyGaps(rows), f
}

// showEmptyGaps adds a row without a hop for each gap that matched no hop
// before the divergence, so that every step up to it is shown.
func (m *matcher) showEmptyGaps(rows []Row) []Row {
	out := make([]Row, 0, len(rows)+len(m.steps))
	next := 0 // the next step not yet shown
	for _, r := range rows {
		if r.Step >= next && r.Status != RowUnjudged {
			for ; next < r.Step; next++ {
				if m.steps[next].Gap {
					out = append(out, Row{Step: next, Hop: -1, Status: RowGap})
				}
			}
			next = r.Step + 1
		}
		out = append(out, r)
	}
	if len(rows) == 0 || rows[len(rows)-1].Status == RowMatch || rows[len(rows)-1].Status == RowGap {
		for ; next < len(m.steps); next++ {
			if m.steps[next].Gap {
				out = append(out, Row{Step: next, Hop: -1, Status: RowGap})
			}
		}
	}
	return out
}

func (m *matcher) walk(i, j, prev int) bool {
	if i > m.best.i {
		m.best.i, m.best.j, m.best.prev = i, j, prev
		m.best.trail = slices.Clone(m.trail)
	}
	hops := m.j.Hops
	if i == len(m.steps) {
		return j == len(hops)
	}
	st := state{i, j, prev}
	if m.failed[st] {
		return false
	}
	s := &m.steps[i]
	n := len(m.trail)
	if s.Gap {
		if m.walk(i+1, j, prev) {
			return true
		}
		if j < len(hops) {
			m.trail = append(m.trail, Row{Step: i, Hop: j, Status: RowGap})
			if m.walk(i, j+1, prev) {
				return true
			}
		}
	} else if j < len(hops) && identity(s, &hops[j]) && len(fieldFailures(s, m.j, j, prev)) == 0 {
		m.trail = append(m.trail, Row{Step: i, Hop: j, Status: RowMatch})
		if m.walk(i+1, j+1, j) {
			return true
		}
	}
	m.trail = m.trail[:n]
	m.failed[st] = true
	return false
}

// explain turns the furthest partial alignment into rows and a failure.
func (m *matcher) explain() ([]Row, *Failure) {
	bi, bj, prev := m.best.i, m.best.j, m.best.prev
	rows := slices.Clone(m.best.trail)
	hops := m.j.Hops
	if bi >= len(m.steps) {
		// every step matched, but hops are left over
		h := &hops[bj]
		rows = append(rows, Row{Step: -1, Hop: bj, Status: RowDiverge})
		rows = m.rest(rows, len(m.steps), bj+1)
		return rows, &Failure{Kind: "extra", Step: -1, Hop: h.Index, Expected: "end of the journey", Actual: HopString(h),
			Message: fmt.Sprintf("the journey goes on after the last expected hop: hop %d %s (end the path with %s to allow more)", h.Index, HopString(h), GapToken)}
	}
	s := &m.steps[bi]
	gapBefore := bi > 0 && m.steps[bi-1].Gap
	last := bj
	if gapBefore {
		last = len(hops) - 1
	}
	for c := bj; c <= last && c < len(hops); c++ {
		if !identity(s, &hops[c]) {
			continue
		}
		for k := bj; k < c; k++ {
			rows = append(rows, Row{Step: bi - 1, Hop: k, Status: RowGap})
		}
		rows = append(rows, Row{Step: bi, Hop: c, Status: RowDiverge})
		rows = m.rest(rows, bi+1, c+1)
		return rows, m.fieldFailure(bi, c, prev)
	}
	f := &Failure{Kind: "hop", Step: bi, Expected: s.String(), Actual: "end of the journey"}
	where := m.stepName(bi)
	var msg string
	if bj < len(hops) {
		h := &hops[bj]
		f.Hop, f.Actual = h.Index, HopString(h)
		rows = append(rows, Row{Step: bi, Hop: bj, Status: RowDiverge})
		if gapBefore {
			// every later hop was searched: show them all, then the steps
			for k := bj + 1; k < len(hops); k++ {
				rows = append(rows, Row{Step: -1, Hop: k, Status: RowUnjudged})
			}
			rows = m.rest(rows, bi+1, len(hops))
			after := fmt.Sprintf("after hop %d", bj)
			if bj == 0 {
				after = "anywhere in the journey"
			}
			end := m.j.Last()
			msg = fmt.Sprintf("%s: no hop matches %s %s; the journey ends at hop %d %s",
				where, s.String(), after, end.Index, HopString(end))
		} else {
			rows = m.rest(rows, bi+1, bj+1)
			msg = fmt.Sprintf("%s: expected %s, got hop %d %s", where, s.String(), h.Index, HopString(h))
		}
	} else {
		rows = append(rows, Row{Step: bi, Hop: -1, Status: RowDiverge})
		rows = m.rest(rows, bi+1, len(hops))
		msg = fmt.Sprintf("%s: expected %s, but the journey ended", where, s.String())
		if end := m.j.Last(); end != nil {
			msg += fmt.Sprintf(" at hop %d %s", end.Index, HopString(end))
		}
	}
	if s.NAT != nil && !anyNAT(*s.NAT, m.j.NAT) {
		msg += fmt.Sprintf("; the expected %s never happened", s.NAT.String())
		f.Kind = "nat"
	}
	f.Message = msg
	return rows, f
}

// fieldFailure explains a hop that is at the right place but differs.
func (m *matcher) fieldFailure(i, c, prev int) *Failure {
	s := &m.steps[i]
	fs := fieldFailures(s, m.j, c, prev)
	h := &m.j.Hops[c]
	if len(fs) == 0 {
		// cannot happen: a full match would have gone further
		return &Failure{Kind: "hop", Step: i, Hop: h.Index, Expected: s.String(), Actual: HopString(h),
			Message: fmt.Sprintf("%s: hop %d does not fit the rest of the path", m.stepName(i), h.Index)}
	}
	parts := make([]string, len(fs))
	for k, f := range fs {
		parts[k] = fmt.Sprintf("%s: expected %s, got %s", f.Kind, f.Expected, f.Actual)
	}
	f := fs[0]
	f.Step, f.Hop = i, h.Index
	f.Message = fmt.Sprintf("%s, hop %d %s %s: %s", m.stepName(i), h.Index, h.Hook, h.Device.Name, strings.Join(parts, "; "))
	return &f
}

// rest pairs the steps from i and the hops from j that were not compared.
func (m *matcher) rest(rows []Row, i, j int) []Row {
	for i < len(m.steps) || j < len(m.j.Hops) {
		r := Row{Step: -1, Hop: -1, Status: RowUnjudged}
		if i < len(m.steps) {
			r.Step = i
			i++
		}
		if j < len(m.j.Hops) {
			r.Hop = j
			j++
		}
		rows = append(rows, r)
	}
	return rows
}

// stepName names a step for people: "step 4 (line 23)".
func (m *matcher) stepName(i int) string {
	if l := m.steps[i].Pos.Line; l > 0 {
		return fmt.Sprintf("step %d (line %d)", i+1, l)
	}
	return fmt.Sprintf("step %d", i+1)
}
