package main

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pktlife/pktlife/trace"
)

// isTerminal reports whether f is a terminal.
func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// termWidth returns f's width in cells, or 0 when f is not a terminal.
func termWidth(f *os.File) int {
	ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ)
	if err != nil {
		return 0
	}
	return int(ws.Col)
}

// startStatus keeps a live status line on w while the tracer waits, when w
// is a terminal. The returned function clears the line (before a journey is
// printed); with final=true it also stops the updates.
func startStatus(ctx context.Context, w *os.File, tr *trace.Tracer) func(final bool) {
	if !isTerminal(w) {
		return func(bool) {}
	}
	var mu sync.Mutex
	shown := false
	done := make(chan struct{})
	var once sync.Once
	start := time.Now()
	go func() {
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-done:
				return
			case <-t.C:
			}
			s := tr.Stats()
			mu.Lock()
			fmt.Fprintf(w, "\r\033[K%s  events %d · packets matched %d · journeys %d · in flight %d · lost %d",
				time.Since(start).Truncate(time.Second), s.Events, s.Matched, s.Journeys, s.InFlight, s.Lost)
			shown = true
			mu.Unlock()
		}
	}()
	return func(final bool) {
		mu.Lock()
		if shown {
			fmt.Fprint(w, "\r\033[K")
			shown = false
		}
		mu.Unlock()
		if final {
			once.Do(func() { close(done) })
		}
	}
}
