package check

import (
	"fmt"

	"github.com/pktlife/pktlife/trace/journey"
)

// validate checks what single keys cannot: names, families, budgets
// against totals, fates against drop reasons.
func (p *parser) validate(s *Spec) {
	names := map[string]Pos{}
	for i := range s.Probes {
		pr := &s.Probes[i]
		if pr.Name == "" {
			pr.Name = fmt.Sprintf("%s-%d", pr.Proto, i+1)
		}
		if prev, dup := names[pr.Name]; dup {
			p.errorAt(pr.Pos, "probe %q: the name is already used at line %d; names must be unique", pr.Name, prev.Line)
		}
		names[pr.Name] = pr.Pos
		p.validateProbe(pr)
	}
}

func (p *parser) validateProbe(pr *Probe) {
	if pr.From.Addr.IsValid() && pr.To.Addr().IsValid() && pr.From.Addr.Is4() != pr.To.Addr().Is4() {
		p.errorAt(pr.Pos, "probe %q: from %s and to %s are of different IP families", pr.Name, pr.From.Addr, pr.To.Addr())
	}
	if pr.Listen != nil && pr.Proto == "icmp" {
		p.errorAt(pr.Pos, "probe %q: listen is for udp and tcp probes; the kernel answers icmp echo itself", pr.Name)
	}
	seen := map[Packet]bool{}
	for i := range pr.Expect {
		e := &pr.Expect[i]
		if seen[e.Packet] {
			p.errorAt(e.Pos, "probe %q: packet %s is expected twice", pr.Name, e.Packet)
		}
		seen[e.Packet] = true
		if e.DropReason != "" && e.Fate != "" && e.Fate != journey.FateDropped {
			p.errorAt(e.Pos, "probe %q: drop_reason needs fate dropped, not %s", pr.Name, e.Fate)
		}
		p.validateBudgets(pr, e)
	}
}

// validateBudgets rejects hop budgets that can never be what fails: one
// larger than the total budget is always met whenever the total is, which
// is almost always a typo (a unit off by a thousand). A sum of hop budgets
// above the total is fine: each is a ceiling, not a reservation.
func (p *parser) validateBudgets(pr *Probe, e *Expect) {
	if e.Total == 0 {
		return
	}
	for _, s := range e.Path {
		if s.Budget > e.Total {
			p.errorAt(s.BudgetPos, "budget %s is larger than the journey's total budget %s (line %d): it could never fail on its own", s.Budget, e.Total, e.TotalPos.Line)
		}
	}
}

// RequireExpectations reports probes without any expectation: `pktlife
// check` has nothing to compare them with.
func (s *Spec) RequireExpectations() error {
	var errs Errors
	for _, pr := range s.Probes {
		if len(pr.Expect) == 0 {
			errs = append(errs, &Error{File: s.File, Pos: pr.Pos, Msg: fmt.Sprintf("probe %q has no expect: run `pktlife record` to write one", pr.Name)})
		}
	}
	if len(s.Probes) == 0 {
		errs = append(errs, &Error{File: s.File, Msg: "the spec has no probes"})
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}
