package trace_test

import (
	"context"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/pktlife/pktlife/internal/netnstest"
	"github.com/pktlife/pktlife/trace"
	"github.com/pktlife/pktlife/trace/journey"
)

// bridged builds a node like the kubectl plugin's: pods a (10.97.0.2) and
// b (10.97.0.3) whose veths' node sides ha and hb are ports of a bridge in
// the node namespace n, where the tracer runs (tc on the node's devices
// only, as in a hostNetwork pod).
func bridged(t *testing.T) (n, a, b *netnstest.NS) {
	t.Helper()
	netnstest.RequireRoot(t)
	s := netnstest.Suffix()
	n = netnstest.New(t, "pl-n-"+s)
	a = netnstest.New(t, "pl-a-"+s)
	b = netnstest.New(t, "pl-b-"+s)
	netnstest.Veth(t, n, "ha", netip.Prefix{}, a, "ea", netip.MustParsePrefix("10.97.0.2/24"))
	netnstest.Veth(t, n, "hb", netip.Prefix{}, b, "eb", netip.MustParsePrefix("10.97.0.3/24"))
	nl := n.Handle()
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "br0"}}
	if err := nl.LinkAdd(br); err != nil {
		t.Fatalf("add bridge: %v", err)
	}
	for _, port := range []string{"ha", "hb"} {
		if err := nl.LinkSetMaster(n.Link(t, port), br); err != nil {
			t.Fatalf("bridge port %s: %v", port, err)
		}
	}
	if err := nl.LinkSetUp(n.Link(t, "br0")); err != nil {
		t.Fatalf("up br0: %v", err)
	}
	return n, a, b
}

// TestTraceStartBacklog sends packets as soon as the tracer is attached,
// before its reader's first round, with the reader starting late and both
// CPUs busy; then more once it has run a while. Seen on a cluster node:
// packets right after `tracing` lost their tc and net_dev_* hops. Here a
// packet sent at the start must have the same hops as one sent later.
func TestTraceStartBacklog(t *testing.T) {
	n, a, b := bridged(t)
	const port = 7795
	srv := b.ListenUDP(t, "10.97.0.3:7795")
	early := a.DialUDP(t, "", "10.97.0.3:7795")
	late := a.DialUDP(t, "", "10.97.0.3:7795")
	buf := make([]byte, 64)
	send := func(c *net.UDPConn, count int) {
		t.Helper()
		for i := range count {
			if _, err := c.Write([]byte{byte(i)}); err != nil {
				t.Fatal(err)
			}
			srv.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, _, err := srv.ReadFrom(buf); err != nil {
				t.Fatalf("server read: %v", err)
			}
		}
	}
	// Neighbours and the bridge's forwarding table known before tracing: a
	// packet waiting for ARP has a copy, a flooded one more skbs.
	send(early, 1)
	send(late, 1)

	tr := udpTracer(t, n, port)

	const count = 5
	stop := spin(runtime.NumCPU())
	send(early, count)
	time.Sleep(300 * time.Millisecond) // the reader starts late: a backlog
	ctx, cancel := context.WithCancel(context.Background())
	out := make(chan *journey.Journey, 256)
	done := make(chan error, 1)
	go func() { done <- tr.Run(ctx, func(j *journey.Journey) bool { out <- j; return true }) }()
	time.Sleep(200 * time.Millisecond)
	stop()
	time.Sleep(time.Second)
	send(late, count)
	time.Sleep(500 * time.Millisecond)
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	close(out)

	byPort := map[uint16][]string{}
	for j := range out {
		seq := hopSet(j)
		t.Logf("journey %d %s: %d hops, %s: %s", j.ID, j.Tuple, len(j.Hops), j.End, hookSeq(j))
		byPort[j.Tuple.Src.Port()] = append(byPort[j.Tuple.Src.Port()], seq)
	}
	lateJs := byPort[uint16(late.LocalAddr().(*net.UDPAddr).Port)]
	earlyJs := byPort[uint16(early.LocalAddr().(*net.UDPAddr).Port)]
	if len(lateJs) != count || len(earlyJs) != count {
		t.Fatalf("%d journeys of early packets and %d of late ones, want %d each", len(earlyJs), len(lateJs), count)
	}
	want := lateJs[0]
	for _, h := range []string{"sock_send@ea", "net_dev_queue@ea", "tc-ingress@ha", "tc-egress@hb", "net_dev_start_xmit@hb", "sock_deliver@eb"} {
		if !strings.Contains(want, h) {
			t.Fatalf("late packet's journey has no %s: %s", h, want)
		}
	}
	for i, j := range slices.Concat(earlyJs, lateJs) {
		if j != want {
			t.Errorf("journey %d hops\n  %s\nwant (a late packet's)\n  %s", i, j, want)
		}
	}
}

// udpTracer starts a tracer in n for UDP to port, closed at the test's end.
func udpTracer(t *testing.T, n *netnstest.NS, port uint16) *trace.Tracer {
	t.Helper()
	var tr *trace.Tracer
	err := n.Do(func() (err error) {
		tr, err = trace.New(trace.Options{Filter: trace.Filter{Proto: 17, Dport: port}})
		return err
	})
	if err != nil {
		t.Fatalf("new tracer: %v", err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr
}

// hopSet is a journey's hops as hook@device, sorted: the same packet path
// gives the same set whatever order CPUs interleave them in.
func hopSet(j *journey.Journey) string {
	var s []string
	for _, h := range j.Hops {
		s = append(s, h.Hook.String()+"@"+h.Device.Name)
	}
	slices.Sort(s)
	return strings.Join(s, " ")
}

// spin keeps n threads busy until the returned function is called.
func spin(n int) (stop func()) {
	var done atomic.Bool
	for range n {
		go func() {
			runtime.LockOSThread()
			for !done.Load() {
			}
		}()
	}
	return func() { done.Store(true) }
}

// TestTraceTrafficDuringAttach sends a packet every 200 µs from before the
// tracer attaches until after it runs, as on a busy node. Hops attach one
// at a time (sockets first, tc last) over hundreds of milliseconds, so a
// tracer that followed packets from its first attach reported journeys
// without the hops attached later: on the cluster, a trace's first journeys
// were socket to socket only. Every journey that has the sender's socket
// (kernel-function hops may come before it) must have the whole path, and no packet first seen at its normal
// free may be reported as a journey.
func TestTraceTrafficDuringAttach(t *testing.T) {
	n, a, b := bridged(t)
	const port = 7796
	srv := b.ListenUDP(t, "10.97.0.3:7796")
	cl := a.DialUDP(t, "", "10.97.0.3:7796")
	go func() {
		buf := make([]byte, 64)
		for {
			if _, _, err := srv.ReadFrom(buf); err != nil {
				return
			}
		}
	}()
	var stopped atomic.Bool
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		for !stopped.Load() {
			if _, err := cl.Write([]byte{1}); err != nil {
				return
			}
			time.Sleep(200 * time.Microsecond)
		}
	}()
	defer func() { stopped.Store(true); <-sent }()
	time.Sleep(100 * time.Millisecond) // neighbours and the bridge's table known

	tr := udpTracer(t, n, port)

	const count = 60
	var js []*journey.Journey
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := tr.Run(ctx, func(j *journey.Journey) bool {
		js = append(js, j)
		if len(js) == count {
			cancel()
		}
		return len(js) < count
	})
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if len(js) < count {
		t.Fatalf("%d journeys in 10 s, want %d", len(js), count)
	}
	whole := 0
	for _, j := range js {
		if len(j.Hops) == 1 && j.Hops[0].Hook == journey.HookConsumeSkb {
			t.Errorf("journey %d %s is only its free: %s", j.ID, j.Tuple, hookSeq(j))
		}
		set := hopSet(j)
		if !strings.Contains(set, "sock_send@ea") {
			continue // in flight when the tracer armed: seen from a later hop
		}
		whole++
		for _, h := range []string{"sock_send@ea", "net_dev_queue@ea", "tc-ingress@ha", "tc-egress@hb", "net_dev_start_xmit@hb", "sock_deliver@eb"} {
			if !strings.Contains(set, h) {
				t.Errorf("journey %d %s from the sender's socket has no %s: %s", j.ID, j.Tuple, h, hookSeq(j))
				break
			}
		}
	}
	if whole < count/2 {
		t.Errorf("%d of %d journeys have the sender's socket, want most", whole, len(js))
	}
}
