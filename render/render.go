package render

import (
	"os"

	"github.com/mattn/go-isatty"

	"github.com/pktlife/pktlife/trace/journey"
)

// Options control the text renderer. The CLI fills them from its flags; they
// never carry the flags themselves.
type Options struct {
	Color   bool // ANSI colour; the CLI decides (see ColorWanted)
	Width   int  // terminal width in cells, 0 = 100
	Verbose bool // show skb address, cpu, len and mark per hop
}

// DefaultWidth is the width used when Options.Width is zero.
const DefaultWidth = 100

// minWidth is the narrowest layout the text renderer attempts; narrower
// widths are treated as this.
const minWidth = 40

func (o Options) width() int {
	switch {
	case o.Width <= 0:
		return DefaultWidth
	case o.Width < minWidth:
		return minWidth
	}
	return o.Width
}

// Renderer writes journeys somewhere. Implementations are not safe for
// concurrent use; Close is safe to call twice. Journey keeps nothing of j
// once it returns (an HTML page, written at Close, keeps its own copy of
// what it shows): the caller may release j (journey.Journey.Release), as
// the CLI does.
type Renderer interface {
	Journey(j *journey.Journey) error
	Close() error
}

var (
	_ Renderer = (*Text)(nil)
	_ Renderer = (*JSON)(nil)
)

// ColorWanted reports whether output to f should be coloured: f is a
// terminal, NO_COLOR is unset or empty (https://no-color.org) and TERM is
// not "dumb".
func ColorWanted(f *os.File) bool {
	if f == nil || !isatty.IsTerminal(f.Fd()) {
		return false
	}
	if os.Getenv("NO_COLOR") != "" {
		return false
	}
	return os.Getenv("TERM") != "dumb"
}
