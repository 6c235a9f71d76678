package check

import (
	"time"

	"github.com/pktlife/pktlife/trace/journey"
)

// Report is the result of checking a spec.
type Report struct {
	Spec     string        `json:"spec"`
	Probes   []ProbeReport `json:"probes"`
	Duration time.Duration `json:"duration_ns"`
}

// ProbeReport is what one probe did and how its journeys compared.
type ProbeReport struct {
	Name  string `json:"name"`
	Proto string `json:"proto"`
	// Tuple is the probe's flow as sent: "udp 10.244.1.2:41234 → 10.96.0.10:80".
	Tuple string `json:"tuple"`
	// Note says what the sender saw when that is news: a connection that
	// timed out, a reply that never came. It is not a failure by itself;
	// the journeys say why.
	Note    string   `json:"note,omitempty"`
	Results []Result `json:"results"`
}

// Result is one expectation of a probe and the journey it was compared with.
type Result struct {
	Packet   Packet           `json:"packet"`
	Expect   *Expect          `json:"-"`
	Expected []string         `json:"expected,omitempty"` // the path's steps, as Step.String
	Journey  *journey.Journey `json:"journey,omitempty"`  // nil: none seen
	Outcome
}

// NewResult compares j with e.
func NewResult(e *Expect, j *journey.Journey) Result {
	r := Result{Packet: e.Packet, Expect: e, Journey: j, Outcome: Compare(e, j)}
	for _, s := range e.Path {
		r.Expected = append(r.Expected, s.String())
	}
	return r
}

// FirstDivergence returns the first failure, or nil when the result passed.
func (r *Result) FirstDivergence() *Failure {
	if len(r.Failures) == 0 {
		return nil
	}
	return &r.Failures[0]
}

// Pass reports whether every expectation of the probe was met.
func (p *ProbeReport) Pass() bool {
	for _, r := range p.Results {
		if !r.Pass {
			return false
		}
	}
	return true
}

// Passed reports whether every probe passed.
func (r *Report) Passed() bool {
	for i := range r.Probes {
		if !r.Probes[i].Pass() {
			return false
		}
	}
	return true
}

// Counts returns the number of probes that passed and failed.
func (r *Report) Counts() (pass, fail int) {
	for i := range r.Probes {
		if r.Probes[i].Pass() {
			pass++
		} else {
			fail++
		}
	}
	return pass, fail
}
