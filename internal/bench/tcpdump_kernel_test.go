package bench

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"
)

// TestTcpdumpCapturesFlood runs the benchmark's tcpdump cases on a slow
// flood: with the match filter each packet is captured on each of the four
// devices it crosses (pod A's eth0, the node's lxc-poda and lxc-podb, pod
// B's eth0), with the no-match filter none is, and both tcpdumps stop
// cleanly with their statistics read.
func TestTcpdumpCapturesFlood(t *testing.T) {
	if _, err := exec.LookPath(TcpdumpPath); err != nil {
		if os.Getenv("PKTLIFE_REQUIRE_TOOLS") != "" {
			t.Fatal("tcpdump not installed: make deps-bench installs it")
		}
		t.Skip("tcpdump not installed (make deps-bench installs it)")
	}
	env := newEnv(t)
	ctx := context.Background()
	for _, c := range []Case{TcpdumpMatch, TcpdumpNoMatch} {
		expr, err := env.TcpdumpFilter(c)
		if err != nil {
			t.Fatal(err)
		}
		td, err := StartTcpdump(ctx, env.Namespaces(), expr)
		if err != nil {
			t.Fatal(err)
		}
		f, ferr := env.Flood(ctx, FloodOptions{Senders: 1, Rate: 2000, Duration: 500 * time.Millisecond})
		st, err := td.Stop()
		if ferr != nil || err != nil {
			t.Fatalf("%s: flood: %v; tcpdump: %v", c, ferr, err)
		}
		t.Logf("%s: sent %d, received %d; tcpdump's filter accepted %d, dropped %d, captured %d", c, f.Sent, f.Received, st.Received, st.Dropped, st.Captured)
		if f.Received < 500 {
			t.Fatalf("%s: only %d of %d datagrams arrived", c, f.Received, f.Sent)
		}
		want := uint64(0)
		if c == TcpdumpMatch {
			want = 4 * f.Sent
		}
		if st.Received != want || st.Captured > st.Received {
			t.Errorf("%s: the filter accepted %d packets (%d captured), want %d (4 devices × %d sent, or none)",
				c, st.Received, st.Captured, want, f.Sent)
		}
	}
}
