package bench

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/pktlife/pktlife/internal/netnstest"
)

// newEnv builds the benchmark node for a kernel test.
func newEnv(t *testing.T) *Env {
	t.Helper()
	netnstest.RequireRoot(t)
	env, err := NewEnv(context.Background())
	if err != nil {
		t.Fatalf("build bench node: %v", err)
	}
	t.Cleanup(func() {
		if err := env.Close(); err != nil {
			t.Errorf("close bench node: %v", err)
		}
	})
	return env
}

// TestLossAccounting floods a small ring as fast as the senders go and
// checks that no event disappears unaccounted: the reader reads exactly
// what the kernel says it wrote, the ring really overflowed (so losses
// were counted, not avoided), and written plus lost comes to the flood's
// packets times the hops one packet makes.
func TestLossAccounting(t *testing.T) {
	env := newEnv(t)
	res, err := MeasureLoss(context.Background(), env, LossOptions{
		RingSize: 16 << 10,
		Flood:    FloodOptions{Duration: 1500 * time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("sent %d, hops/packet %.2f, expected %.0f events; emitted %d, lost %d, read %d",
		res.Flood.Sent, res.HopsPerPacket, res.Expected(), res.Kernel.Emitted, res.Kernel.Lost, res.Read)
	if !res.Drained || res.Read != res.Kernel.Emitted {
		t.Errorf("reader read %d events, the kernel emitted %d: events vanished between ring and reader",
			res.Read, res.Kernel.Emitted)
	}
	if res.Kernel.Lost == 0 {
		t.Errorf("a %d-byte ring under a flood of %d packets lost nothing: the overload did not happen", res.RingSize, res.Flood.Sent)
	}
	if res.HopsPerPacket < 5 {
		t.Errorf("calibration found %.2f events per packet; the default hops see at least 5 on this path", res.HopsPerPacket)
	}
	// A packet dropped on the way makes fewer hops; the flood's rate shifts
	// which free path UDP takes (consume_skb or none). Both move the count a
	// little; an event path that neither emits nor counts moves it a lot.
	if dev := math.Abs(float64(res.Attempts())-res.Expected()) / res.Expected(); dev > 0.10 {
		t.Errorf("emitted+lost = %d, sent × hops/packet = %.0f: %.1f%% apart (more than 10%%)",
			res.Attempts(), res.Expected(), 100*dev)
	}
}
