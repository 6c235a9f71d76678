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
	for _, s := range []struct {
		ns   *netnstest.NS
		dev  string
		addr string
	}{{a, "va", "fd99::1/64"}, {b, "vb", "fd99::2/64"}} {
		ip, err := netlink.ParseIPNet(s.addr)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.ns.Handle().AddrAdd(s.ns.Link(t, s.dev), &netlink.Addr{IPNet: ip, Flags: unix.IFA_F_NODAD}); err != nil {
			t.Fatalf("add %s: %v", s.addr, err)
		}
	}
	opts := trace.Options{Netns: []string{a.Path, b.Path}, RingSize: 1 << 20}
	slowOpts := opts
	trace.NoFastParseForTest(&slowOpts)
	stop := make(chan struct{})
	fast := recordEvents(t, opts, stop)
	slow := recordEvents(t, slowOpts, stop)

	udp := func(raddr string, payload []byte, ipOptions string) {
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
	udp("10.99.0.2:7781", []byte("hello"), "")
	udp("10.99.0.2:7782", nil, "")
	udp("10.99.0.2:7783", []byte("options"), "\x01\x01\x01\x00")
	udp("[fd99::2]:7784", []byte("six"), "")
	var ln net.Listener
	if err := b.Do(func() (err error) { ln, err = net.Listen("tcp", "10.99.0.2:7785"); return err }); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if err := a.Do(func() error {
		c, err := net.DialTimeout("tcp", "10.99.0.2:7785", 5*time.Second)
		if err == nil {
			c.Close()
		}
		return err
	}); err != nil {
		t.Fatalf("tcp: %v", err)
	}
	time.Sleep(time.Second)
	close(stop)
	f, s := fast(), slow()

	// The test's own flows: neighbour discovery and MLD also run while
	// the tracers attach, one after the other.
	ours := func(k eventKey) bool {
		p, q := k.tuple.Src.Port(), k.tuple.Dst.Port()
		return (p >= 7781 && p <= 7785) || (q >= 7781 && q <= 7785)
	}
	n := 0
	for k, c := range f {
		if ours(k) && s[k] != c {
			t.Errorf("fast path: %d × %+v, helper path %d", c, k, s[k])
		}
		if ours(k) {
			n++
		}
	}
	for k, c := range s {
		if _, ok := f[k]; ours(k) && !ok {
			t.Errorf("helper path: %d × %+v, fast path none", c, k)
		}
	}
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
	t.Logf("%d distinct events of the test's flows on each path", n)
}
