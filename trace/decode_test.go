package trace

import (
	"testing"
	"unsafe"

	"github.com/pktlife/pktlife/bpf"
	"github.com/pktlife/pktlife/trace/journey"
)

// TestDecodeCapture: a record with a capture after its event yields the
// captured bytes, no more than the capture says it holds; a plain record
// yields none and allocates nothing.
func TestDecodeCapture(t *testing.T) {
	raw := make([]byte, EventSize+captureSize)
	k := (*bpf.PktlifeEvent)(unsafe.Pointer(&raw[0]))
	k.Hook = uint8(journey.HookTCIngress)
	c := (*bpf.PktlifeCapture)(unsafe.Pointer(&raw[EventSize]))
	copy(c.Data[:], []byte{0x45, 0, 0, 28, 9, 9, 9})
	c.Len = 4

	var ev journey.Event
	if !Decode(raw, &ev) {
		t.Fatal("Decode refused a record with a capture")
	}
	if ev.Packet != "\x45\x00\x00\x1c" || ev.Hook != journey.HookTCIngress {
		t.Errorf("decoded packet %q hook %v, want the 4 captured bytes at tc-ingress", ev.Packet, ev.Hook)
	}
	c.Len = 0xffff // never past the record
	if !Decode(raw, &ev) || len(ev.Packet) != MaxSnaplen {
		t.Errorf("a capture claiming %d bytes gave %d, want at most %d", c.Len, len(ev.Packet), MaxSnaplen)
	}
	allocs := testing.AllocsPerRun(100, func() {
		if !Decode(raw[:EventSize], &ev) || ev.Packet != "" {
			t.Fatal("a plain record decoded with packet bytes")
		}
	})
	if allocs != 0 {
		t.Errorf("decoding a plain record allocated %v times", allocs)
	}
	if MaxSnaplen != 256 || captureSize != 8+256 {
		t.Errorf("capture layout changed: %d bytes for %d", captureSize, MaxSnaplen)
	}
}
