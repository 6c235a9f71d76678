package main

import (
	"errors"
	"strings"

	"github.com/pktlife/pktlife/trace"
)

// The engine names what it was given by trace.Options' fields and values,
// never by this command line's flags: these say it in the flags' terms.

// flagOf maps trace.Filter's fields to their flags.
var flagOf = map[string]string{
	"Host": "--host", "Src": "--src", "Dst": "--dst",
	"Port": "--port", "Sport": "--sport", "Dport": "--dport",
}

// flagPhrases maps the engine's phrases for option values to flags.
var flagPhrases = strings.NewReplacer(
	"tail-call mode "+trace.TailCallsInterpose, "--tail-calls="+trace.TailCallsInterpose,
	"tail-call mode "+trace.TailCallsOff, "--tail-calls="+trace.TailCallsOff,
	"kernel-function backend", "--kfunc-backend",
)

// flagError is an engine error said in the command line's terms.
type flagError struct {
	err error
	msg string
}

func (e flagError) Error() string { return e.msg }
func (e flagError) Unwrap() error { return e.err }

// inFlagTerms returns err said in this command line's terms; errors.Is
// and errors.As still see the engine's error.
func inFlagTerms(err error) error {
	if err == nil {
		return nil
	}
	msg := flagPhrases.Replace(err.Error())
	var ce *trace.ConflictError
	if errors.As(err, &ce) {
		with := make([]string, len(ce.With))
		for i, w := range ce.With {
			with[i] = flagOf[w]
		}
		msg = strings.Replace(msg, ce.Error(), "validate filter: "+flagOf[ce.Field]+" cannot be combined with "+strings.Join(with, " or "), 1)
	}
	if errors.Is(err, trace.ErrBadOption) && strings.Contains(msg, "select hops: unknown hop") {
		msg = strings.Replace(msg, ": bad option", " (see `pktlife hops`): bad option", 1)
	}
	if msg == err.Error() {
		return err
	}
	return flagError{err, msg}
}
