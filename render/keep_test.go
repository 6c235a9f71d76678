package render

import (
	"bytes"
	"testing"

	"github.com/pktlife/pktlife/trace/journey"
)

// TestRenderersKeepNothing: a renderer's output does not change when each
// journey, its hops and NATs are overwritten as soon as Journey returns, as
// they are when the CLI releases a written journey (journey.Journey.Release)
// and the correlator reuses it. HTML, which writes at Close, must
// have copied what it needs.
func TestRenderersKeepNothing(t *testing.T) {
	renderers := map[string]func(*bytes.Buffer) Renderer{
		"text":    func(b *bytes.Buffer) Renderer { return NewText(b, Options{}) },
		"verbose": func(b *bytes.Buffer) Renderer { return NewText(b, Options{Verbose: true, Color: true}) },
		"json":    func(b *bytes.Buffer) Renderer { return NewJSON(b) },
		"html":    func(b *bytes.Buffer) Renderer { return NewHTML(b, "t") },
		"pcap": func(b *bytes.Buffer) Renderer {
			p, err := NewPcap(b, 128)
			if err != nil {
				t.Fatal(err)
			}
			return p
		},
	}
	other := journey.Hop{Index: 99, Time: start + 777, Hook: journey.HookKfreeSkb, Device: lxcB, Skb: skbC,
		Tuple: tuple(6, "192.0.2.1:1", "192.0.2.2:2"), Verdict: "TC_ACT_STOLEN", DropReason: "OTHER", Len: 1}
	write := func(name string, clobber bool) []byte {
		var b bytes.Buffer
		r := renderers[name](&b)
		for _, j := range allJourneys() {
			if err := r.Journey(j); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if clobber {
				for i := range j.Hops {
					j.Hops[i] = other
				}
				for i := range j.NAT {
					j.NAT[i] = journey.NAT{Hop: 99, Kind: "other"}
				}
				*j = journey.Journey{ID: 12345, Tuple: other.Tuple, Fate: journey.FateUnknown, Node: "other"}
			}
		}
		if err := r.Close(); err != nil {
			t.Fatalf("%s: close: %v", name, err)
		}
		return b.Bytes()
	}
	for name := range renderers {
		kept, clobbered := write(name, false), write(name, true)
		if len(kept) == 0 || !bytes.Equal(kept, clobbered) {
			t.Errorf("%s: output changed when the hops were overwritten after Journey returned (%d bytes, want %d)", name, len(clobbered), len(kept))
		}
	}
}
