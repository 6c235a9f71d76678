// Package mode is the one spelling of the tail-call tracing modes, with no
// dependencies, so that the kubectl plugin, check specs and the tracer
// accept and list the same words.
package mode

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Mode says how tail calls are traced.
type Mode = string

// The modes.
const (
	// Auto uses Passive where fentry/fexit work, and otherwise says that
	// per-packet chains need Interpose.
	Auto Mode = "auto"
	// Interpose puts shims into the datapath's prog_array slots: exact
	// per-packet chains, at the cost of changing the maps meanwhile.
	Interpose Mode = "interpose"
	// Passive attaches fentry/fexit to entry programs: exact entry, exit
	// and final verdict, the chain between inferred from the graph.
	Passive Mode = "passive"
	// Off records no tail calls.
	Off Mode = "off"
)

// All lists the modes, for help texts and completion.
var All = []Mode{Auto, Interpose, Passive, Off}

// ErrUnknown is returned for a mode not in All.
var ErrUnknown = errors.New("unknown tail-call mode")

// Check accepts "" (Auto) and the modes in All.
func Check(m Mode) error {
	if m == "" || slices.Contains(All, m) {
		return nil
	}
	return fmt.Errorf("select tail-call mode %q: want %s: %w", m, List(All...), ErrUnknown)
}

// List spells modes as a help text does: "auto, interpose, passive or off".
func List(ms ...Mode) string {
	if len(ms) < 2 {
		return strings.Join(ms, "")
	}
	return strings.Join(ms[:len(ms)-1], ", ") + " or " + ms[len(ms)-1]
}
