package demo

import (
	"context"
	"os"
	"testing"
	"time"
)

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates network namespaces and loads BPF programs")
	}
}

// testContext is the test's context, bounded so that nothing hangs.
func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// newTopology builds a topology and removes it at cleanup, checking that no
// namespace of it is left behind.
func newTopology(t *testing.T, opts Options) *Topology {
	t.Helper()
	topo, err := NewTopology(testContext(t), opts)
	if err != nil {
		t.Fatalf("new topology: %v", err)
	}
	t.Cleanup(func() {
		if err := topo.Close(); err != nil {
			t.Errorf("close topology: %v", err)
		}
		left, err := ListNetns(DefaultPrefix + "-" + topo.ID)
		if err != nil {
			t.Errorf("list netns: %v", err)
		}
		if len(left) > 0 {
			t.Errorf("namespaces left after Close: %v", left)
		}
	})
	return topo
}

// eventually polls cond until it holds, for at most DefaultTimeout. For BPF
// map contents, which give no signal when they change.
func eventually(t *testing.T, ctx context.Context, what string, cond func() (bool, error)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, DefaultTimeout)
	defer cancel()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, err := cond()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if ok {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: not reached: %v", what, ctx.Err())
		case <-tick.C:
		}
	}
}

// receive waits for the next datagram on s, for at most DefaultTimeout.
func receive(t *testing.T, ctx context.Context, s *UDPServer) Datagram {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, DefaultTimeout)
	defer cancel()
	select {
	case d, ok := <-s.Received():
		if !ok {
			t.Fatalf("udp server %s stopped", s.Addr)
		}
		return d
	case <-ctx.Done():
		t.Fatalf("no datagram at %s: %v", s.Addr, ctx.Err())
	}
	return Datagram{}
}
