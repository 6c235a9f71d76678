package render

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"
)

func TestWriteSummary(t *testing.T) {
	var b bytes.Buffer
	s := Summary{Journeys: 12, Events: 340, Evicted: 1, Unmatched: 3, Duration: 5*time.Second + 203*time.Millisecond}
	if err := WriteSummary(&b, s, Options{}); err != nil {
		t.Fatal(err)
	}
	want := "pktlife: 12 journeys · 340 events · 5.20s · 0 lost · 1 evicted · 3 unmatched\n"
	if b.String() != want {
		t.Fatalf("summary = %q, want %q", b.String(), want)
	}

	b.Reset()
	s = Summary{Journeys: 1, Events: 1, Lost: 2}
	if err := WriteSummary(&b, s, Options{Color: true}); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	pal := newPalette()
	if !strings.Contains(out, pal.open[sBad]+"2 lost") {
		t.Errorf("lost events are not marked: %q", out)
	}
	if !strings.Contains(out, "2 events were lost") {
		t.Errorf("no warning about lost events: %q", out)
	}
	if !strings.HasPrefix(stripped(out), "pktlife: 1 journey · 1 event · ") {
		t.Errorf("singular forms wrong: %q", stripped(out))
	}
	if strings.Contains(out, "skipped") {
		t.Errorf("skipped shown with no rate limit: %q", out)
	}

	b.Reset()
	s = Summary{Journeys: 3, Events: 48, Skipped: 997, Duration: time.Second}
	if err := WriteSummary(&b, s, Options{}); err != nil {
		t.Fatal(err)
	}
	want = "pktlife: 3 journeys · 48 events · 1.00s · 0 lost · 0 evicted · 0 unmatched · 997 skipped (--max-rate)\n"
	if b.String() != want {
		t.Fatalf("summary = %q, want %q", b.String(), want)
	}
}

func stripped(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == 0x1b {
			for i < len(s) && s[i] != 'm' {
				i++
			}
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func readDoc(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../docs/json-schema.md")
	if err != nil {
		t.Fatalf("read schema doc: %v", err)
	}
	return string(b)
}
