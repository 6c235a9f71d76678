package main

import (
	"errors"
	"fmt"
	"testing"

	"github.com/pktlife/pktlife/trace"
)

// TestInFlagTerms: the engine's errors reach the user in the flags' terms,
// and stay the engine's errors for errors.Is.
func TestInFlagTerms(t *testing.T) {
	f := trace.Filter{Port: 80, Dport: 53}
	cases := []struct {
		err  error
		want string
	}{
		{f.Validate(), "validate filter: --port cannot be combined with --sport or --dport"},
		{fmt.Errorf("attach: %w (fentry: x)", trace.ErrNeedInterpose), "attach: per-packet tail-call chains need --tail-calls=interpose (fentry: x)"},
		{fmt.Errorf("select hops: unknown hop %q: %w", "x", trace.ErrBadOption), "select hops: unknown hop \"x\" (see `pktlife hops`): bad option"},
		{errors.New("not selected (kernel-function backend fentry)"), "not selected (--kfunc-backend fentry)"},
		{errors.New("untouched"), "untouched"},
	}
	for _, c := range cases {
		got := inFlagTerms(c.err)
		if got.Error() != c.want {
			t.Errorf("%q: got %q, want %q", c.err, got, c.want)
		}
		if !errors.Is(got, c.err) {
			t.Errorf("%q: errors.Is lost the engine's error", c.err)
		}
	}
}
