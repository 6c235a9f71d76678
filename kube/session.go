package kube

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/pktlife/pktlife/trace/journey"
)

// Renderer is what the render package's text and JSON writers implement.
type Renderer interface {
	Journey(*journey.Journey) error
	Close() error
}

// Sink receives the journeys of all node pods, each stream in its node's
// order, the streams interleaved as they arrive.
type Sink interface {
	Journey(node string, j *journey.Journey) error
	Close() error
}

// Ticker is a Sink that wants the time now and then (to give up waiting
// for the other half of a journey).
type Ticker interface {
	Tick(now time.Time) error
}

// Session runs the node pods of one trace and streams their journeys into
// a Sink. Every pod it started is deleted when Run returns: when the traces
// end, when one fails, and when ctx is cancelled (Ctrl-C). It also runs
// pods that print lines only (cleanup pods): without a Sink, with
// KeepGoing.
type Session struct {
	Pods      []*corev1.Pod
	NewRunner func() NodeRunner
	Sink      Sink      // nil when the pods print no journeys; any they print are dropped
	Status    io.Writer // the plugin's own status lines; nil discards
	// NodeOut gets the lines of the node pods that are not journeys (the
	// tracers' status), each prefixed "[NODE] "; default Status.
	NodeOut io.Writer
	// KeepGoing lets the other pods run to their end when one fails
	// (instead of ending them), and Run return every pod's error.
	KeepGoing     bool
	DeleteTimeout time.Duration // for deleting the pods after ctx ended; default 30 s
	TickEvery     time.Duration // how often a Ticker sink is ticked; default 500 ms

	statusMu sync.Mutex
}

type arrival struct {
	node string
	j    *journey.Journey
}

// Run starts all node pods and streams until every tracer has exited, one
// failed, or ctx is cancelled. A cancelled ctx is a normal end: Run then
// returns nil unless something else failed.
func (s *Session) Run(ctx context.Context) (err error) {
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	runners := make([]NodeRunner, len(s.Pods))
	for i := range s.Pods {
		runners[i] = s.NewRunner()
	}
	defer func() {
		err = errors.Join(err, s.deleteAll(ctx, runners))
		if s.Sink != nil {
			err = errors.Join(err, s.Sink.Close())
		}
	}()

	ch := make(chan arrival)
	errc := make(chan error, len(s.Pods))
	for i, p := range s.Pods {
		go func() { errc <- s.runOne(runCtx, runners[i], p, ch) }()
	}
	var tick <-chan time.Time
	ticker, isTicker := s.Sink.(Ticker)
	if isTicker {
		every := s.TickEvery
		if every <= 0 {
			every = 500 * time.Millisecond
		}
		t := time.NewTicker(every)
		defer t.Stop()
		tick = t.C
	}
	var first error
	var errs []error // with KeepGoing
	fail := func(e error) {
		switch {
		case e == nil:
		case s.KeepGoing:
			errs = append(errs, e)
		case first == nil:
			first = e
			cancel() // one node failing ends the trace on the others
		}
	}
	for left := len(s.Pods); left > 0; {
		select {
		case a := <-ch:
			if first == nil && s.Sink != nil {
				fail(s.Sink.Journey(a.node, a.j))
			}
		case e := <-errc:
			left--
			if ctx.Err() != nil && errors.Is(e, ctx.Err()) {
				e = nil // interrupted by the user: not a failure
			}
			fail(e)
		case now := <-tick:
			if first == nil {
				fail(ticker.Tick(now))
			}
		}
	}
	return errors.Join(append(errs, first)...)
}

// runOne starts one node pod and decodes its output until it ends.
func (s *Session) runOne(ctx context.Context, r NodeRunner, pod *corev1.Pod, ch chan<- arrival) error {
	node := pod.Spec.NodeName
	s.statusf("kubectl-pktlife: starting node pod %s/%s on node %s", pod.Namespace, pod.Name, node)
	rc, err := r.Start(ctx, pod)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return err
	}
	defer rc.Close()
	stop := context.AfterFunc(ctx, func() { rc.Close() }) // unblock the read on cancel
	defer stop()
	d := Decoder{
		Node: node,
		Journey: func(j *journey.Journey) error {
			select {
			case ch <- arrival{node: node, j: j}:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		},
		Status: func(line string) { s.nodeLine(node, line) },
	}
	if err := d.Decode(rc); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("stream node pod %s: %w", pod.Name, err)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return r.Wait(ctx) // the log ended: did the tracer exit cleanly?
}

// deleteAll deletes every pod with a context of its own: ctx may already
// be cancelled by Ctrl-C.
func (s *Session) deleteAll(ctx context.Context, runners []NodeRunner) error {
	timeout := s.DeleteTimeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	errs := make([]error, len(runners))
	var wg sync.WaitGroup
	for i, r := range runners {
		wg.Go(func() { errs[i] = r.Delete(dctx) })
	}
	wg.Wait()
	err := errors.Join(errs...)
	if err != nil {
		s.statusf("kubectl-pktlife: some node pods may be left; remove them with: %s", CleanupHint)
	}
	return err
}

// CleanupHint is the command that removes every leftover node pod.
const CleanupHint = "kubectl pktlife cleanup --all-namespaces  (or: kubectl delete pod -A -l " + Selector + ")"

func (s *Session) statusf(format string, args ...any) {
	s.printf(s.Status, format, args...)
}

// nodeLine writes a line a node pod printed, prefixed by its node.
func (s *Session) nodeLine(node, line string) {
	w := s.NodeOut
	if w == nil {
		w = s.Status
	}
	s.printf(w, "[%s] %s", node, line)
}

func (s *Session) printf(w io.Writer, format string, args ...any) {
	if w == nil {
		return
	}
	s.statusMu.Lock()
	defer s.statusMu.Unlock()
	fmt.Fprintf(w, format+"\n", args...)
}
