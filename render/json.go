package render

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/pktlife/pktlife/trace/journey"
)

// JSON writes journeys as NDJSON: each line is exactly json.Marshal of one
// journey.Journey, with its schema field set to journey.SchemaVersion when
// the journey left it zero. docs/json-schema.md describes the fields. Each
// line is written with one Write call.
type JSON struct {
	w      io.Writer
	enc    jsonEnc
	closed bool
}

// NewJSON returns a JSON renderer writing to w.
func NewJSON(w io.Writer) *JSON { return &JSON{w: w} }

// Journey writes one journey as one line.
func (r *JSON) Journey(j *journey.Journey) error {
	if r.closed {
		return fmt.Errorf("render journey: %w", ErrClosed)
	}
	if j == nil {
		return errors.New("render journey: nil journey")
	}
	v := j
	if j.Schema == 0 {
		c := *j // shallow copy: the caller's journey is not modified
		c.Schema = journey.SchemaVersion
		v = &c
	}
	r.enc.b = r.enc.b[:0]
	if !r.enc.journey(v) {
		// what only json.Marshal writes (or refuses) exactly
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("marshal journey %d: %w", j.ID, err)
		}
		r.enc.b = append(r.enc.b[:0], b...)
	}
	r.enc.b = append(r.enc.b, '\n')
	if _, err := r.w.Write(r.enc.b); err != nil {
		return fmt.Errorf("write journey %d: %w", j.ID, err)
	}
	return nil
}

// Close ends the output. It writes nothing; it is safe to call twice.
func (r *JSON) Close() error {
	r.closed = true
	return nil
}
