package bench

import (
	"fmt"
	"slices"
	"time"

	"github.com/pktlife/pktlife/trace"
)

// AttachResult times attaching and detaching the default hop set.
type AttachResult struct {
	Attach, Detach []time.Duration // one per round
	Attached       int             // attachment points that worked
	Skipped        []trace.Attachment
}

// Median attach and detach times.
func (a AttachResult) Median() (attach, detach time.Duration) {
	return medianDur(a.Attach), medianDur(a.Detach)
}

// Max attach and detach times.
func (a AttachResult) Max() (attach, detach time.Duration) {
	return slices.Max(a.Attach), slices.Max(a.Detach)
}

func medianDur(d []time.Duration) time.Duration {
	f := make([]float64, len(d))
	for i, v := range d {
		f[i] = float64(v)
	}
	return time.Duration(Median(f))
}

// MeasureAttach creates and closes a tracer with the default options on the
// topology's three namespaces (what `pktlife trace --netns …` does) rounds
// times: trace.New is the attach time (load, attach every hop on every
// device), Close the detach time.
func MeasureAttach(env *Env, rounds int) (AttachResult, error) {
	var res AttachResult
	if rounds <= 0 {
		rounds = 5
	}
	for i := 0; i < rounds; i++ {
		start := time.Now()
		tr, err := trace.New(trace.Options{Netns: env.Namespaces()})
		if err != nil {
			return res, fmt.Errorf("attach: %w", err)
		}
		res.Attach = append(res.Attach, time.Since(start))
		res.Attached, res.Skipped = 0, nil
		for _, a := range tr.Attached() {
			if a.Err != nil {
				res.Skipped = append(res.Skipped, a)
			} else {
				res.Attached++
			}
		}
		start = time.Now()
		if err := tr.Close(); err != nil {
			return res, fmt.Errorf("detach: %w", err)
		}
		res.Detach = append(res.Detach, time.Since(start))
	}
	return res, nil
}
