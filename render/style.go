package render

import (
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"
	"github.com/muesli/termenv"
)

// sty names a role in the output; a palette maps roles to ANSI sequences.
type sty uint8

const (
	sPlain sty = iota
	sDim
	sBold
	sTitle    // "journey N"
	sGood     // delivered, TC_ACT_OK
	sBad      // dropped, drop reasons, TC_ACT_SHOT
	sWarn     // unknown fate, lost events
	sInfo     // transmitted, redirects
	sConsumed // consumed fate
	sDevice   // device names
	sNetns    // namespace labels
	sTC       // tc hooks
	sKfunc    // kernel-function hooks
	sProg     // BPF program names
	sNATKind  // "dnat", "snat"
	sNATOld   // the tuple part a NAT replaced
	sNATNew   // the tuple part a NAT wrote
	sSlow     // the largest Δ of a journey
	styCount
)

// styleDefs uses the 16 basic ANSI colours only, which every terminal
// theme maps to something readable on its own background; no adaptive
// colours, so nothing ever queries the terminal.
func styleDefs() [styCount]lipgloss.Style {
	var d [styCount]lipgloss.Style
	r := lipgloss.NewRenderer(nil)
	r.SetColorProfile(termenv.ANSI)
	st := r.NewStyle
	d[sPlain] = st()
	d[sDim] = st().Faint(true)
	d[sBold] = st().Bold(true)
	d[sTitle] = st().Bold(true)
	d[sGood] = st().Foreground(lipgloss.Color("2"))
	d[sBad] = st().Foreground(lipgloss.Color("1")).Bold(true)
	d[sWarn] = st().Foreground(lipgloss.Color("3")).Bold(true)
	d[sInfo] = st().Foreground(lipgloss.Color("6"))
	d[sConsumed] = st().Foreground(lipgloss.Color("4"))
	d[sDevice] = st().Foreground(lipgloss.Color("6"))
	d[sNetns] = st().Foreground(lipgloss.Color("5"))
	d[sTC] = st().Foreground(lipgloss.Color("5")).Bold(true)
	d[sKfunc] = st().Foreground(lipgloss.Color("4"))
	d[sProg] = st().Foreground(lipgloss.Color("3"))
	d[sNATKind] = st().Foreground(lipgloss.Color("3")).Bold(true)
	d[sNATOld] = st().Foreground(lipgloss.Color("1")).Faint(true)
	d[sNATNew] = st().Foreground(lipgloss.Color("3")).Bold(true)
	d[sSlow] = st().Foreground(lipgloss.Color("3")).Bold(true)
	return d
}

// palette holds, per role, the sequences lipgloss puts around a text. They
// are computed once, so rendering a span is two appends rather than a
// lipgloss layout pass.
type palette struct {
	open, close [styCount]string
}

// newPalette returns the shared palette, built on first use.
var newPalette = sync.OnceValue(buildPalette)

func buildPalette() *palette {
	const probe = "x"
	p := new(palette)
	for i, s := range styleDefs() {
		out := s.Render(probe)
		if k := strings.Index(out, probe); k >= 0 {
			p.open[i], p.close[i] = out[:k], out[k+len(probe):]
		}
	}
	return p
}

// span is a piece of plain text in one role. Text is measured and cut as
// plain text; colour is added only when a line is written.
type span struct {
	text string
	st   sty
}

// line is a row of output under construction.
type line []span

func (l line) width() int {
	w := 0
	for _, s := range l {
		w += textWidth(s.text)
	}
	return w
}

// add appends a span; empty texts are skipped.
func (l *line) add(text string, st sty) {
	if text == "" {
		return
	}
	if cap(*l) == 0 {
		// most lines have a handful of spans: one allocation, not four
		*l = make(line, 0, 8)
	}
	*l = append(*l, span{text, st})
}

// truncate cuts the line to at most w cells, ending it with "…" when cut.
func (l line) truncate(w int) line {
	if l.width() <= w {
		return l
	}
	if w <= 0 {
		return nil
	}
	out := make(line, 0, len(l))
	left := w - 1 // room for the ellipsis
	for _, s := range l {
		sw := textWidth(s.text)
		if sw <= left {
			out = append(out, s)
			left -= sw
			continue
		}
		if left > 0 {
			out = append(out, span{ansi.Truncate(s.text, left, ""), s.st})
		}
		out = append(out, span{"…", s.st})
		break
	}
	return out
}

// textWidth is the number of terminal cells s takes. Span texts hold no
// control characters, so plain ASCII is one cell a byte, and so is each of
// the few other characters the renderer itself writes (µ, →, …); anything
// else is measured by grapheme cluster, which is slow (uniseg).
func textWidth(s string) int {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return mixedWidth(s, i)
		}
	}
	return len(s)
}

// mixedWidth measures s, whose first i bytes are ASCII: one cell per rune
// while every rune is narrow (see narrow), else by grapheme cluster.
func mixedWidth(s string, i int) int {
	w := i
	for _, r := range s[i:] {
		if !narrow(r) {
			return ansi.StringWidth(s)
		}
		w++
	}
	return w
}

// narrow reports whether r takes one cell and forms a grapheme cluster of
// its own whatever its neighbours (no combining mark, joiner, variation
// selector or emoji): for a string of such runes the width is their count.
// TestNarrowRunes checks every one against ansi.StringWidth.
func narrow(r rune) bool {
	switch {
	case r >= 0x20 && r < 0x7f:
		return true
	case r >= 0xa1 && r <= 0xff:
		return r != 0xad // soft hyphen: zero width
	}
	switch r {
	case 'Δ', '—', '…', '→', '⇒', '↳', '↗', '↺', '●', '○', '✓', '✗', '─', '│', '└', '├':
		return true
	}
	return false
}

// cutMiddle shortens s to w cells by replacing its middle with "…",
// keeping both ends: names such as lxc1a2b3c4d or cni-… differ at the end.
func cutMiddle(s string, w int) string {
	sw := textWidth(s)
	if sw <= w {
		return s
	}
	if w <= 1 {
		return ansi.Truncate(s, w, "")
	}
	head := (w - 1 + 1) / 2
	tail := w - 1 - head
	return ansi.Truncate(s, head, "") + "…" + ansi.TruncateLeft(s, sw-tail, "")
}

// sanitize replaces control characters (ESC among them) in names that come
// from outside (devices, namespaces, programs, maps) so that no escape
// sequence reaches the terminal through the data.
func sanitize(s string) string {
	clean := utf8.ValidString(s)
	for _, r := range s {
		if !clean {
			break
		}
		clean = !isControl(r)
	}
	if clean {
		return s
	}
	// strings.Map also turns bytes that are not UTF-8 into U+FFFD.
	return strings.Map(func(r rune) rune {
		if isControl(r) {
			return '?'
		}
		return r
	}, s)
}

func isControl(r rune) bool { return r < 0x20 || (r >= 0x7f && r < 0xa0) }
