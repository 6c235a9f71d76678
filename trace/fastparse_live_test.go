package trace_test

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/pktlife/pktlife/internal/netnstest"
	"github.com/pktlife/pktlife/trace"
	"github.com/pktlife/pktlife/trace/journey"
)

// eventKey is what parsing decides of an event: the same skb at the same
// hook must get the same tuple and flags on both paths.
type eventKey struct {
	skb     journey.Ptr
	hook    journey.Hook
	ifindex uint32
	flags   uint8
	tuple   journey.Tuple
}

// recordEvents runs a tracer until stop is closed and returns its events.
func recordEvents(t *testing.T, opts trace.Options, stop <-chan struct{}) func() map[eventKey]int {
	t.Helper()
	tr, err := trace.New(opts)
	if err != nil {
		t.Fatalf("new tracer: %v", err)
	}
	var mu sync.Mutex
	got := map[eventKey]int{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- tr.RunEvents(ctx, func(ev *journey.Event) bool {
			mu.Lock()
			got[eventKey{ev.Skb, ev.Hook, ev.Ifindex, ev.Flags, ev.Tuple}]++
			mu.Unlock()
			return true
		})
	}()
	go func() { <-stop; cancel() }()
	return func() map[eventKey]int {
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
		if err := tr.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
		mu.Lock()
		defer mu.Unlock()
		return got
	}
}

// TestFastParseAgreesLive traces the same traffic with two tracers at
// once, one parsing with plain loads (where the kernel can) and one with
// the helper path, and wants the same events from both: tracepoints, tc and
// sockets, for UDP with and without payload, IPv4 with options, IPv6 and
// TCP.
func TestFastParseAgreesLive(t *testing.T) {
	a, b := pair(t)
	if !trace.FastParseAvailableForTest() {
		// two tracers with one parse, whose legacy tc filters (no tcx
		// before 6.6) need not see the same packets
		t.Skip("this kernel has no bpf_rdonly_cast: both tracers would parse with helpers")
	}
	addV6(t, a, "va", "fd99::1/64")
	addV6(t, b, "vb", "fd99::2/64")
	// no passive tail-call tracing: each tracer would follow the other's
	// tc programs (fentry, where the kernel has it)
	opts := trace.Options{Netns: []string{a.Path, b.Path}, RingSize: 1 << 20, TailCalls: trace.TailCallsOff}
	slowOpts := opts
	trace.NoFastParseForTest(&slowOpts)
	stop := make(chan struct{})
	fast := recordEvents(t, opts, stop)
	slow := recordEvents(t, slowOpts, stop)
	sendOneUDP(t, a, b, "10.99.0.2:7781", []byte("hello"), "")
	sendOneUDP(t, a, b, "10.99.0.2:7782", nil, "")
	sendOneUDP(t, a, b, "10.99.0.2:7783", []byte("options"), "\x01\x01\x01\x00")
	sendOneUDP(t, a, b, "[fd99::2]:7784", []byte("six"), "")
	connectTCP(t, a, b, "10.99.0.2:7785")
	time.Sleep(time.Second)
	close(stop)
	f, s := fast(), slow()
	t.Logf("%d distinct events of the test's flows on each path", compareEvents(t, f, s))
	// each kind of traffic was seen with its ports at a tracepoint, tc and
	// a socket hook
	for _, port := range []uint16{7781, 7782, 7783, 7784, 7785} {
		seen := map[journey.Hook]bool{}
		for k := range f {
			if k.tuple.Dst.Port() == port && k.flags&journey.FlagL4 != 0 {
				seen[k.hook] = true
			}
		}
		for _, h := range []journey.Hook{journey.HookNetifReceiveSkb, journey.HookTCIngress, journey.HookTCEgress, journey.HookSockSend} {
			if !seen[h] {
				t.Errorf("port %d: no event with ports at %s", port, h)
			}
		}
	}
}

// compareEvents wants the test's own flows (ports 7781-7785) to have the
// same events on both paths, and returns how many distinct ones there are:
// neighbour discovery and MLD also run while the tracers attach, one after
// the other.
func compareEvents(t *testing.T, f, s map[eventKey]int) int {
	t.Helper()
	ours := func(k eventKey) bool {
		p, q := k.tuple.Src.Port(), k.tuple.Dst.Port()
		return (p >= 7781 && p <= 7785) || (q >= 7781 && q <= 7785)
	}
	n := 0
	for k, c := range f {
		if !ours(k) {
			continue
		}
		n++
		if s[k] != c {
			t.Errorf("fast path: %d × %+v, helper path %d", c, k, s[k])
		}
	}
	for k, c := range s {
		if _, ok := f[k]; ours(k) && !ok {
			t.Errorf("helper path: %d × %+v, fast path none", c, k)
		}
	}
	return n
}

func addV6(t *testing.T, ns *netnstest.NS, dev, addr string) {
	t.Helper()
	ip, err := netlink.ParseIPNet(addr)
	if err != nil {
		t.Fatal(err)
	}
	if err := ns.Handle().AddrAdd(ns.Link(t, dev), &netlink.Addr{IPNet: ip, Flags: unix.IFA_F_NODAD}); err != nil {
		t.Fatalf("add %s: %v", addr, err)
	}
}

// sendOneUDP sends one datagram from a to b's raddr, with IPv4 options if
// given, and waits for it.
func sendOneUDP(t *testing.T, a, b *netnstest.NS, raddr string, payload []byte, ipOptions string) {
	t.Helper()
	srv := b.ListenUDP(t, raddr)
	cli := a.DialUDP(t, "", raddr)
	if ipOptions != "" {
		rc, err := cli.SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		var serr error
		if err := rc.Control(func(fd uintptr) {
			serr = unix.SetsockoptString(int(fd), unix.IPPROTO_IP, unix.IP_OPTIONS, ipOptions)
		}); err != nil || serr != nil {
			t.Fatalf("set IP options: %v %v", err, serr)
		}
	}
	if _, err := cli.Write(payload); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	srv.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, _, err := srv.ReadFrom(buf); err != nil {
		t.Fatalf("read at %s: %v", raddr, err)
	}
}

// connectTCP opens and closes a TCP connection from a to b's addr.
func connectTCP(t *testing.T, a, b *netnstest.NS, addr string) {
	t.Helper()
	var ln net.Listener
	if err := b.Do(func() (err error) { ln, err = net.Listen("tcp", addr); return err }); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if err := a.Do(func() error {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err == nil {
			c.Close()
		}
		return err
	}); err != nil {
		t.Fatalf("tcp: %v", err)
	}
}
