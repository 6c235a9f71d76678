package kube

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/pktlife/pktlife/trace/journey"
)

// RenderSink writes the journeys of a one-node trace through a Renderer.
type RenderSink struct{ R Renderer }

// Journey implements Sink.
func (s RenderSink) Journey(_ string, j *journey.Journey) error { return s.R.Journey(j) }

// Close implements Sink.
func (s RenderSink) Close() error { return s.R.Close() }

// TimelineWriter writes merged timelines.
type TimelineWriter interface {
	Timeline(*Timeline) error
	Close() error
}

// MergeSink merges the journeys of a two-node trace as they arrive and
// writes the timelines.
type MergeSink struct {
	M   *Merger
	W   TimelineWriter
	Now func() time.Time // default time.Now
}

var _ Ticker = (*MergeSink)(nil)

func (s *MergeSink) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Journey implements Sink.
func (s *MergeSink) Journey(node string, j *journey.Journey) error {
	return s.write(s.M.Add(node, j, s.now()))
}

// Tick implements Ticker: halves that waited long enough are written alone.
func (s *MergeSink) Tick(now time.Time) error { return s.write(s.M.Expire(now)) }

// Close writes the halves still waiting and closes the writer.
func (s *MergeSink) Close() error {
	return errors.Join(s.write(s.M.Flush()), s.W.Close())
}

func (s *MergeSink) write(ts []Timeline) error {
	for i := range ts {
		if err := s.W.Timeline(&ts[i]); err != nil {
			return err
		}
	}
	return nil
}

// TimelineText writes a timeline as a heading line and then each half
// through a journey renderer (render.Text) that New makes for W, a fresh one
// per timeline so the halves sit under their heading.
type TimelineText struct {
	W   io.Writer
	New func(w io.Writer) Renderer
	n   int
}

// Timeline implements TimelineWriter.
func (t *TimelineText) Timeline(tl *Timeline) error {
	t.n++
	if _, err := io.WriteString(t.W, t.heading(tl)); err != nil {
		return fmt.Errorf("write timeline %d: %w", t.n, err)
	}
	r := t.New(t.W)
	for _, h := range tl.Halves {
		if err := r.Journey(h.Journey); err != nil {
			return err
		}
	}
	return r.Close()
}

// heading is e.g. "══ timeline 3 · node-b → node-a · matched by tuple and
// IP ID 0x2b01 · times per node". The flow is in each half's own header.
func (t *TimelineText) heading(tl *Timeline) string {
	var b strings.Builder
	if t.n > 1 {
		b.WriteString("\n")
	}
	nodes := make([]string, len(tl.Halves))
	for i, h := range tl.Halves {
		nodes[i] = h.Node
	}
	fmt.Fprintf(&b, "══ timeline %d · %s", t.n, strings.Join(nodes, " → "))
	switch tl.Match {
	case MatchIPID:
		fmt.Fprintf(&b, " · matched by tuple and IP ID %#04x · times per node", tl.IPID)
	case MatchTuple:
		b.WriteString(" · matched by tuple (no IP ID) · times per node")
	default:
		b.WriteString(" · seen on this node only")
	}
	b.WriteString("\n")
	return b.String()
}

// Close implements TimelineWriter.
func (t *TimelineText) Close() error { return nil }

// TimelineJSON writes one timeline per line (NDJSON).
type TimelineJSON struct{ W io.Writer }

// Timeline implements TimelineWriter.
func (t TimelineJSON) Timeline(tl *Timeline) error {
	b, err := json.Marshal(tl)
	if err != nil {
		return fmt.Errorf("marshal timeline: %w", err)
	}
	if _, err := t.W.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("write timeline: %w", err)
	}
	return nil
}

// Close implements TimelineWriter.
func (TimelineJSON) Close() error { return nil }
