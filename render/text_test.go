package render

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/charmbracelet/x/ansi"

	"github.com/pktlife/pktlife/trace/journey"
)

// hostile is a journey whose names carry escape sequences and other
// control characters, as a crafted netns or program name could.
func hostile() *journey.Journey {
	j := dnatTailCallDrop()
	j.Node = "node\x1b]0;pwned\x07"
	j.Hops[0].Device.NetnsName = "evil\x1b[31mred"
	j.Hops[1].Device.Name = "eth\x1b[2J0"
	j.Hops[2].Progs[0].Name = "prog\u009b31m"
	j.Hops[2].TailCalls[0].Map = "map\r\n"
	j.Hops[3].DropReason = "REASON\x1b[0m"
	return j
}

func TestNoEscapeWithoutColor(t *testing.T) {
	raw := hostile()
	raw.Hops[2].Device.Name = "veth\x9b31m" // not even UTF-8
	js := append(allJourneys(), hostile(), raw)
	for _, o := range []Options{{}, {Verbose: true}, {Width: 60}, {Width: 300, Verbose: true}} {
		out := renderText(t, o, js...)
		if i := bytes.IndexByte(out, 0x1b); i >= 0 {
			t.Fatalf("options %+v: ESC at byte %d: %q", o, i, out[max(i-20, 0):min(i+20, len(out))])
		}
		if !utf8.Valid(out) {
			t.Fatalf("options %+v: output is not UTF-8", o)
		}
		for i, r := range string(out) {
			if r != '\n' && isControl(r) {
				t.Fatalf("options %+v: control character %U at byte %d", o, r, i)
			}
		}
	}
	var b bytes.Buffer
	if err := WriteSummary(&b, Summary{Journeys: 1, Lost: 3}, Options{}); err != nil {
		t.Fatal(err)
	}
	if bytes.IndexByte(b.Bytes(), 0x1b) >= 0 {
		t.Fatalf("summary without colour has ESC: %q", b.String())
	}
}

func TestColorHasEscapes(t *testing.T) {
	out := renderText(t, Options{Color: true}, dnatTailCallDrop())
	if !bytes.Contains(out, []byte("\x1b[")) {
		t.Fatal("colour output has no escape sequences")
	}
	// Stripped of its colour, the output is the plain output.
	plain := renderText(t, Options{}, dnatTailCallDrop())
	if got := ansi.Strip(string(out)); got != string(plain) {
		t.Fatalf("colour output without escapes differs from plain output:\n%s\n---\n%s", got, plain)
	}
	// The hostile names do not smuggle their own sequences in: every ESC is
	// one of the palette's.
	out = renderText(t, Options{Color: true}, hostile())
	if strings.Contains(string(out), "\x1b]") || strings.Contains(string(out), "\x1b[2J") {
		t.Fatalf("hostile names reached the terminal: %q", out)
	}
}

func TestWidth(t *testing.T) {
	js := append(allJourneys(), hostile())
	for _, color := range []bool{false, true} {
		for _, verbose := range []bool{false, true} {
			for w := 60; w <= 160; w += 5 {
				out := renderText(t, Options{Color: color, Width: w, Verbose: verbose}, js...)
				for n, l := range strings.Split(string(out), "\n") {
					if got := ansi.StringWidth(l); got > w {
						t.Fatalf("color=%v verbose=%v width %d: line %d is %d cells: %q", color, verbose, w, n+1, got, ansi.Strip(l))
					}
				}
			}
		}
	}
	// Width 0 means 100; anything under the minimum is the minimum.
	if a, b := renderText(t, Options{}, ipv6SNAT()), renderText(t, Options{Width: 100}, ipv6SNAT()); !bytes.Equal(a, b) {
		t.Error("width 0 does not render as width 100")
	}
	if a, b := renderText(t, Options{Width: 10}, ipv6SNAT()), renderText(t, Options{Width: minWidth}, ipv6SNAT()); !bytes.Equal(a, b) {
		t.Error("width 10 does not render as the minimum width")
	}
}

// TestNarrowKeepsDetails checks that a detail which does not fit its
// column is moved, not cut.
func TestNarrowKeepsDetails(t *testing.T) {
	out := string(renderText(t, Options{Width: 60}, dnatTailCallDrop(), kfuncHops()))
	for _, want := range []string{"TC_ACT_SHOT (inferred)", "drop TC_INGRESS", "ret 1", "ret 0"} {
		if !strings.Contains(out, want) {
			t.Errorf("narrow output lacks %q:\n%s", want, out)
		}
	}
}

func TestDeviceLabel(t *testing.T) {
	d := journey.Device{Name: "lxc9f3b2a14c5e0", Ifindex: 23}
	for _, c := range []struct {
		w    int
		want string
	}{
		{40, "lxc9f3b2a14c5e0 (if 23)"},
		{22, "lxc9f3b2a14c5e0"},
		{10, "lxc9f…c5e0"},
	} {
		if got := deviceLabel(d, c.w); got != c.want {
			t.Errorf("deviceLabel(%d) = %q, want %q", c.w, got, c.want)
		}
	}
	if got := deviceLabel(journey.Device{Ifindex: 7}, 20); got != "if 7" {
		t.Errorf("unnamed device = %q", got)
	}
	if got := deviceLabel(journey.Device{}, 20); got != "-" {
		t.Errorf("empty device = %q", got)
	}
}

func TestFmtDur(t *testing.T) {
	for _, c := range []struct {
		d    time.Duration
		want string
	}{
		{0, "0"},
		{812, "812ns"},
		{3100, "3.1µs"},
		{38_249, "38.2µs"},
		{999_940, "999.9µs"},
		{1_250_000, "1.2ms"},
		{38_200_000, "38.2ms"},
		{1_250_000_000, "1.25s"},
		{95 * time.Second, "1m35s"},
		{-400, "-400ns"},
	} {
		if got := fmtDur(c.d); got != c.want {
			t.Errorf("fmtDur(%d) = %q, want %q", c.d, got, c.want)
		}
	}
	if got := fmtDelta(400); got != "+400ns" {
		t.Errorf("fmtDelta(400) = %q", got)
	}
}

func TestTCPFlags(t *testing.T) {
	if got := tcpFlags(0x12); got != "[SYN,ACK]" {
		t.Errorf("tcpFlags(0x12) = %q", got)
	}
	if got := tcpFlags(0); got != "" {
		t.Errorf("tcpFlags(0) = %q", got)
	}
}

// TestNATHighlight checks that colour marks exactly the rewritten parts:
// for a port-only DNAT the new port is highlighted and the address is not.
func TestNATHighlight(t *testing.T) {
	old := tuple(17, "10.0.0.1:5000", "10.96.0.10:80")
	cur := tuple(17, "10.0.0.1:5000", "10.96.0.10:8080")
	l := natLine("dnat", old, cur)
	var got []string
	for _, s := range l {
		if s.st == sNATNew {
			got = append(got, s.text)
		}
	}
	if len(got) != 1 || got[0] != ":8080" {
		t.Fatalf("highlighted %q, want only \":8080\"", got)
	}
	w := writer{}
	w.line(l)
	if s := string(w.b); s != "dnat  dst 10.96.0.10:80 ⇒ 10.96.0.10:8080" {
		t.Fatalf("plain NAT line = %q", s)
	}
	if k := natKind(old, tuple(17, "10.0.0.9:5000", "10.96.0.10:8080")); k != "nat" {
		t.Errorf("natKind of both sides = %q", k)
	}
}

// TestTupleChange shows a tuple change that no NAT explains (an
// encapsulation, say) once, at the hop where it appears.
func TestTupleChange(t *testing.T) {
	j := udpDelivered()
	outer := tuple(17, "192.168.1.10:41234", "192.168.1.11:4789")
	j.Hops[4].Tuple = outer
	out := string(renderText(t, Options{}, j))
	if n := strings.Count(out, "tuple udp 192.168.1.10:41234 → 192.168.1.11:4789"); n != 1 {
		t.Fatalf("outer tuple shown %d times:\n%s", n, out)
	}
	if n := strings.Count(out, "tuple udp 10.244.1.2:40000 → 10.244.1.3:53"); n != 1 {
		t.Fatalf("return to the inner tuple shown %d times:\n%s", n, out)
	}
}

func TestSlowestHopColoured(t *testing.T) {
	pal := newPalette()
	out := string(renderText(t, Options{Color: true}, ipv6SNAT()))
	if !strings.Contains(out, pal.open[sSlow]+"+29.1µs") {
		t.Fatalf("largest Δ is not highlighted:\n%q", out)
	}
}

type failWriter struct{ err error }

func (f failWriter) Write([]byte) (int, error) { return 0, f.err }

func TestRendererErrors(t *testing.T) {
	boom := errors.New("boom")
	for name, r := range map[string]Renderer{
		"text": NewText(failWriter{boom}, Options{}),
		"json": NewJSON(failWriter{boom}),
	} {
		if err := r.Journey(udpDelivered()); !errors.Is(err, boom) {
			t.Errorf("%s: write error = %v, want it wrapped", name, err)
		}
		if err := r.Journey(nil); err == nil {
			t.Errorf("%s: nil journey accepted", name)
		}
		if err := r.Close(); err != nil {
			t.Errorf("%s: close: %v", name, err)
		}
		if err := r.Close(); err != nil {
			t.Errorf("%s: second close: %v", name, err)
		}
		if err := r.Journey(udpDelivered()); !errors.Is(err, ErrClosed) {
			t.Errorf("%s: journey after close = %v, want ErrClosed", name, err)
		}
	}
}

// TestOneWritePerJourney: each journey reaches the writer whole, so
// output interleaved with other writers never splits a journey.
func TestOneWritePerJourney(t *testing.T) {
	var c countWriter
	r := NewText(&c, Options{})
	js := allJourneys()
	for _, j := range js {
		if err := r.Journey(j); err != nil {
			t.Fatal(err)
		}
	}
	if c.n != len(js) {
		t.Fatalf("%d writes for %d journeys", c.n, len(js))
	}
}

type countWriter struct{ n int }

func (c *countWriter) Write(b []byte) (int, error) { c.n++; return len(b), nil }

func TestEmptyJourney(t *testing.T) {
	out := string(renderText(t, Options{}, &journey.Journey{ID: 9}))
	want := "● journey 9  (no IP tuple)  ? unknown\n  0 hops\n  (no hops)\n"
	if out != want {
		t.Fatalf("empty journey:\n%q\nwant\n%q", out, want)
	}
}
