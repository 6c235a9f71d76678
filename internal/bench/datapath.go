package bench

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"time"

	"github.com/pktlife/pktlife/trace"
	"github.com/pktlife/pktlife/trace/journey"
)

// Traced is a tracer running its whole user-space pipeline (read, decode,
// correlate) the way `pktlife trace` does, with journeys discarded.
type Traced struct {
	Tracer *trace.Tracer
	// Skipped are the hops this kernel could not attach (fentry or kprobe
	// hops where those are refused); the others run.
	Skipped []trace.Attachment
	cancel  context.CancelFunc
	done    chan error
}

// StartTracer attaches a tracer and runs it until Stop.
func StartTracer(opts trace.Options) (*Traced, error) {
	tr, err := trace.New(opts)
	if err != nil {
		return nil, fmt.Errorf("start tracer: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t := &Traced{Tracer: tr, cancel: cancel, done: make(chan error, 1)}
	for _, a := range tr.Attached() {
		if a.Err != nil {
			t.Skipped = append(t.Skipped, a)
		}
	}
	go func() {
		t.done <- tr.Run(ctx, func(*journey.Journey) bool { return true })
	}()
	return t, nil
}

// Stop ends the run and detaches the tracer.
func (t *Traced) Stop() error {
	t.cancel()
	err := <-t.done
	return errors.Join(err, t.Tracer.Close())
}

// CaseResult is one case's floods.
type CaseResult struct {
	Case   Case
	Floods []FloodResult
	Stats  []trace.Stats // per traced flood, read after it
	// Captures are the tcpdump cases' statistics, one per flood.
	Captures []TcpdumpStats
	Err      error // why the case could not run
}

// MedianPerCPU is the median of the floods' packets per CPU-second.
func (r CaseResult) MedianPerCPU() float64 {
	v := make([]float64, 0, len(r.Floods))
	for _, f := range r.Floods {
		v = append(v, f.PerCPU())
	}
	return Median(v)
}

// Median is the median received rate of the case's floods.
func (r CaseResult) Median() float64 {
	rates := make([]float64, 0, len(r.Floods))
	for _, f := range r.Floods {
		rates = append(rates, f.Rate())
	}
	return Median(rates)
}

// Median of v; 0 when v is empty.
func Median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// DatapathOptions configure the datapath benchmark.
type DatapathOptions struct {
	Rounds int           // floods per case; 0 = 3
	Flood  FloodOptions  // one flood
	Warmup time.Duration // an untraced flood first, not counted; 0 = 1 s
	// Log, when set, receives one line per flood.
	Log func(format string, args ...any)
}

// Datapath floods the environment once per case per round. Cases run in a
// different order each round (rotated), so that a drift of the machine's
// speed spreads over all of them; the median of each case's rounds is its
// figure. A case that cannot run (interposition not built yet) is reported
// in its Err and skipped.
func Datapath(ctx context.Context, env *Env, cases []Case, o DatapathOptions) ([]CaseResult, error) {
	if o.Rounds <= 0 {
		o.Rounds = 3
	}
	if o.Warmup <= 0 {
		o.Warmup = time.Second
	}
	logf := o.Log
	if logf == nil {
		logf = func(string, ...any) {}
	}
	w := o.Flood
	w.Duration = o.Warmup
	if _, err := env.Flood(ctx, w); err != nil {
		return nil, fmt.Errorf("warm up: %w", err)
	}
	res := make([]CaseResult, len(cases))
	for i, c := range cases {
		res[i].Case = c
		res[i].Err = canRun(env, c)
	}
	for round := 0; round < o.Rounds; round++ {
		for k := range cases {
			i := (k + round) % len(cases)
			r := &res[i]
			if r.Err != nil {
				continue
			}
			f, st, err := floodCase(ctx, env, r.Case, o.Flood, r)
			if err != nil && (r.Case == Untraced || ctx.Err() != nil) {
				return res, fmt.Errorf("flood %s: %w", r.Case, err)
			}
			if err != nil {
				// e.g. another pktlife holds the interposition lock: the
				// case is reported as not run, the others go on
				r.Err = fmt.Errorf("flood %s: %w", r.Case, err)
				logf("round %d %-18s not run: %v", round+1, r.Case, err)
				continue
			}
			r.Floods = append(r.Floods, f)
			if st != nil {
				r.Stats = append(r.Stats, *st)
			}
			logf("round %d %-18s sent %8.0f/s received %8.0f/s, %8.0f per CPU-second", round+1, r.Case, f.SendRate(), f.Rate(), f.PerCPU())
		}
	}
	return res, nil
}

// canRun says why a case cannot run, or nil.
func canRun(env *Env, c Case) error {
	switch {
	case c == Untraced:
		return nil
	case c.Tcpdump():
		if _, err := exec.LookPath(TcpdumpPath); err != nil {
			return fmt.Errorf("find tcpdump (make deps-bench installs it): %w", err)
		}
		_, err := env.TcpdumpFilter(c)
		return err
	}
	_, err := env.TracerOptions(c)
	return err
}

// floodCase runs one flood under a case, attaching and detaching (or
// starting and stopping tcpdump) around it; a tcpdump case's statistics
// are appended to r.Captures.
func floodCase(ctx context.Context, env *Env, c Case, fo FloodOptions, r *CaseResult) (FloodResult, *trace.Stats, error) {
	if c == Untraced {
		f, err := env.Flood(ctx, fo)
		return f, nil, err
	}
	if c.Tcpdump() {
		expr, err := env.TcpdumpFilter(c)
		if err != nil {
			return FloodResult{}, nil, err
		}
		td, err := StartTcpdump(ctx, env.Namespaces(), expr)
		if err != nil {
			return FloodResult{}, nil, err
		}
		f, ferr := env.Flood(ctx, fo)
		st, err := td.Stop()
		if err == nil && ferr == nil {
			r.Captures = append(r.Captures, st)
		}
		return f, nil, errors.Join(ferr, err)
	}
	opts, err := env.TracerOptions(c)
	if err != nil {
		return FloodResult{}, nil, err
	}
	t, err := StartTracer(opts)
	if err != nil {
		return FloodResult{}, nil, err
	}
	f, ferr := env.Flood(ctx, fo)
	st := t.Tracer.Stats()
	return f, &st, errors.Join(ferr, t.Stop())
}
