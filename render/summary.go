package render

import (
	"fmt"
	"io"
	"strconv"
	"time"
)

// Summary is what a trace saw, for the CLI's closing line on stderr.
type Summary struct {
	Journeys  uint64        // journeys rendered
	Events    uint64        // events read from the kernel
	Lost      uint64        // events the kernel could not queue (ring buffer full)
	Evicted   uint64        // journeys closed early because too many were in flight
	Skipped   uint64        // packets that matched but were not followed (rate limit)
	Unmatched uint64        // events that belonged to no journey
	Duration  time.Duration // how long the trace ran
}

// WriteSummary writes s as one line, plus a warning line when events were
// lost (the journeys shown may then miss hops):
//
//	pktlife: 12 journeys · 340 events · 5.20s · 0 lost · 1 evicted · 3 unmatched
func WriteSummary(w io.Writer, s Summary, o Options) error {
	out := writer{}
	if o.Color {
		out.pal = newPalette()
	}
	var l line
	l.add("pktlife: ", sDim)
	l.add(strconv.FormatUint(s.Journeys, 10), sBold)
	l.add(pluralWord(s.Journeys, " journey", " journeys"), sPlain)
	l.add(" · ", sDim)
	l.add(strconv.FormatUint(s.Events, 10)+pluralWord(s.Events, " event", " events"), sPlain)
	l.add(" · ", sDim)
	l.add(fmtDur(s.Duration.Round(10*time.Millisecond)), sPlain)
	count := func(n uint64, what string, bad sty) {
		l.add(" · ", sDim)
		l.add(strconv.FormatUint(n, 10)+" "+what, pick(n > 0, bad, sDim))
	}
	count(s.Lost, "lost", sBad)
	count(s.Evicted, "evicted", sWarn)
	count(s.Unmatched, "unmatched", sPlain)
	if s.Skipped > 0 {
		count(s.Skipped, "skipped (--max-rate)", sWarn)
	}
	out.line(l)
	out.newline()
	if s.Lost > 0 {
		out.line(line{{"pktlife: warning: " + strconv.FormatUint(s.Lost, 10) +
			" events were lost (ring buffer full); some journeys miss hops", sWarn}})
		out.newline()
	}
	if _, err := w.Write(out.b); err != nil {
		return fmt.Errorf("write summary: %w", err)
	}
	return nil
}

func pluralWord(n uint64, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
