package netnstest

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// RequireRoot skips the test when not running as root.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("kernel test: needs root (CAP_BPF, CAP_NET_ADMIN) to load BPF and create namespaces")
	}
}

// NS is a named network namespace.
type NS struct {
	Name string // under /run/netns
	Path string
	h    netns.NsHandle
	nl   *netlink.Handle
}

// Suffix returns a short random string for unique names.
func Suffix() string {
	b := make([]byte, 3)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// New creates a named namespace with loopback up, removed at cleanup.
func New(t testing.TB, name string) *NS {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		t.Fatalf("get netns: %v", err)
	}
	defer orig.Close()
	h, err := netns.NewNamed(name)
	if err != nil {
		t.Fatalf("create netns %s: %v", name, err)
	}
	if err := netns.Set(orig); err != nil {
		t.Fatalf("return to netns: %v", err)
	}
	n := &NS{Name: name, Path: "/run/netns/" + name, h: h}
	t.Cleanup(func() {
		if n.nl != nil {
			n.nl.Close()
		}
		h.Close()
		if err := netns.DeleteNamed(name); err != nil {
			t.Errorf("delete netns %s: %v", name, err)
		}
	})
	n.nl, err = netlink.NewHandleAt(h, unix.NETLINK_ROUTE)
	if err != nil {
		t.Fatalf("netlink in %s: %v", name, err)
	}
	lo, err := n.nl.LinkByName("lo")
	if err != nil {
		t.Fatalf("lo in %s: %v", name, err)
	}
	if err := n.nl.LinkSetUp(lo); err != nil {
		t.Fatalf("lo up in %s: %v", name, err)
	}
	return n
}

// Handle returns the namespace's netlink handle.
func (n *NS) Handle() *netlink.Handle { return n.nl }

// Do runs fn on a thread inside the namespace.
func (n *NS) Do(fn func() error) error {
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer orig.Close()
	if err := netns.Set(n.h); err != nil {
		runtime.UnlockOSThread()
		return err
	}
	ferr := fn()
	if err := netns.Set(orig); err != nil {
		return fmt.Errorf("return from netns: %w", err)
	}
	runtime.UnlockOSThread()
	return ferr
}

// Link returns a device by name or fails the test.
func (n *NS) Link(t testing.TB, name string) netlink.Link {
	t.Helper()
	l, err := n.nl.LinkByName(name)
	if err != nil {
		t.Fatalf("device %s in %s: %v", name, n.Name, err)
	}
	return l
}

// Veth links a (device aName, address aAddr) to b (bName, bAddr); both up.
func Veth(t testing.TB, a *NS, aName string, aAddr netip.Prefix, b *NS, bName string, bAddr netip.Prefix) {
	t.Helper()
	la := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: aName}, PeerName: bName, PeerNamespace: netlink.NsFd(int(b.h))}
	if err := a.nl.LinkAdd(la); err != nil {
		t.Fatalf("add veth %s/%s: %v", aName, bName, err)
	}
	for _, side := range []struct {
		ns   *NS
		name string
		addr netip.Prefix
	}{{a, aName, aAddr}, {b, bName, bAddr}} {
		l := side.ns.Link(t, side.name)
		if side.addr.IsValid() {
			ip := &net.IPNet{IP: side.addr.Addr().AsSlice(), Mask: net.CIDRMask(side.addr.Bits(), side.addr.Addr().BitLen())}
			if err := side.ns.nl.AddrAdd(l, &netlink.Addr{IPNet: ip}); err != nil {
				t.Fatalf("address %s on %s: %v", side.addr, side.name, err)
			}
		}
		if err := side.ns.nl.LinkSetUp(l); err != nil {
			t.Fatalf("up %s: %v", side.name, err)
		}
	}
}

// ListenUDP opens a UDP socket bound inside the namespace.
func (n *NS) ListenUDP(t testing.TB, addr string) *net.UDPConn {
	t.Helper()
	var c *net.UDPConn
	err := n.Do(func() error {
		var err error
		ua, err := net.ResolveUDPAddr("udp", addr)
		if err != nil {
			return err
		}
		c, err = net.ListenUDP("udp", ua)
		return err
	})
	if err != nil {
		t.Fatalf("listen udp %s in %s: %v", addr, n.Name, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// DialUDP opens a connected UDP socket inside the namespace.
func (n *NS) DialUDP(t testing.TB, laddr, raddr string) *net.UDPConn {
	t.Helper()
	var c *net.UDPConn
	err := n.Do(func() error {
		var la *net.UDPAddr
		var err error
		if laddr != "" {
			if la, err = net.ResolveUDPAddr("udp", laddr); err != nil {
				return err
			}
		}
		ra, err := net.ResolveUDPAddr("udp", raddr)
		if err != nil {
			return err
		}
		c, err = net.DialUDP("udp", la, ra)
		return err
	})
	if err != nil {
		t.Fatalf("dial udp %s in %s: %v", raddr, n.Name, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}
