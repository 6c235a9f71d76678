package render

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/charmbracelet/x/ansi"
)

// TestNarrowRunes checks the fast width path against the grapheme-cluster
// measure: every rune narrow accepts is one cell alone and between others,
// so a string of them is as wide as it has runes.
func TestNarrowRunes(t *testing.T) {
	n := 0
	for r := rune(0); r < 0x30000; r++ {
		if !narrow(r) {
			continue
		}
		n++
		s := string(r)
		for _, probe := range []string{s, "a" + s, s + "a", s + s, "é" + s + "→"} {
			if got, want := textWidth(probe), ansi.StringWidth(probe); got != want {
				t.Errorf("textWidth(%q) = %d, ansi.StringWidth = %d", probe, got, want)
			}
		}
	}
	if n < 95+94 {
		t.Errorf("only %d narrow runes: ASCII and Latin-1 should be there", n)
	}
}

// TestTextWidthRandom compares textWidth with ansi.StringWidth on random
// strings of narrow runes mixed with wide, combining and emoji ones.
func TestTextWidthRandom(t *testing.T) {
	pool := []string{"a", "Z", " ", "µ", "·", "é", "→", "⇒", "…", "—", "Δ", "✓", "✗", "●",
		"\u0301", "\u200d", "\ufe0f", "世", "界", "👍", "🇩🇪", "\u00ad", "ﾃ", "\u0e33"}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 20000; i++ {
		var b strings.Builder
		for k := rng.IntN(12); k >= 0; k-- {
			b.WriteString(pool[rng.IntN(len(pool))])
		}
		s := b.String()
		if got, want := textWidth(s), ansi.StringWidth(s); got != want {
			t.Fatalf("textWidth(%q) = %d, ansi.StringWidth = %d", s, got, want)
		}
	}
}
