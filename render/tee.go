package render

import (
	"errors"

	"github.com/pktlife/pktlife/trace/journey"
)

// Tee is a Renderer that hands each journey to several renderers in turn
// (text on the terminal, say, and a pcapng and an HTML file beside it).
type Tee []Renderer

// Journey hands j to each renderer; it stops at the first error.
func (t Tee) Journey(j *journey.Journey) error {
	for _, r := range t {
		if err := r.Journey(j); err != nil {
			return err
		}
	}
	return nil
}

// Close closes every renderer, the last first, and joins their errors.
func (t Tee) Close() error {
	var errs []error
	for i := len(t) - 1; i >= 0; i-- {
		errs = append(errs, t[i].Close())
	}
	return errors.Join(errs...)
}
