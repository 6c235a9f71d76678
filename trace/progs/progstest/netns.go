package progstest

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Netns is a named network namespace made for one test.
type Netns struct {
	Name string
	Path string // /run/netns/Name
}

// Suffix is a random hex string for unique namespace and device names.
func Suffix(t testing.TB) string {
	t.Helper()
	b := make([]byte, 3)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("read random: %v", err)
	}
	return hex.EncodeToString(b)
}

// NewNetns creates a named namespace "pl<prefix>-<random>" that the test's
// cleanup deletes (and checks gone). It skips the test when not root.
func NewNetns(t testing.TB, prefix string) *Netns {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to create network namespaces and load BPF programs")
	}
	n := &Netns{Name: fmt.Sprintf("pl%s-%s", prefix, Suffix(t))}
	n.Path = filepath.Join("/run/netns", n.Name)
	errc := make(chan error, 1)
	go func() {
		// NewNamed moves this thread into the namespace; the thread stays
		// locked and the runtime discards it when the goroutine ends.
		runtime.LockOSThread()
		h, err := netns.NewNamed(n.Name)
		if err == nil {
			h.Close()
		}
		errc <- err
	}()
	if err := <-errc; err != nil {
		t.Fatalf("create netns %s: %v", n.Name, err)
	}
	t.Cleanup(func() {
		if err := netns.DeleteNamed(n.Name); err != nil {
			t.Errorf("delete netns %s: %v", n.Name, err)
		}
		if _, err := os.Stat(n.Path); !os.IsNotExist(err) {
			t.Errorf("netns %s still present after cleanup (stat: %v)", n.Path, err)
		}
	})
	return n
}

// Do runs fn on a thread inside the namespace. The thread is never
// returned to the runtime, so nothing else runs in the namespace by mistake.
func (n *Netns) Do(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		h, err := netns.GetFromPath(n.Path)
		if err != nil {
			errc <- fmt.Errorf("open netns %s: %w", n.Path, err)
			return
		}
		defer h.Close()
		if err := netns.Set(h); err != nil {
			errc <- fmt.Errorf("enter netns %s: %w", n.Path, err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// Inode is the namespace's inode number, as discover.Graph reports it.
func (n *Netns) Inode(t testing.TB) uint32 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(n.Path, &st); err != nil {
		t.Fatalf("stat netns: %v", err)
	}
	return uint32(st.Ino)
}

// Veth creates an up veth pair a <-> b in the namespace and returns the
// ifindex of each end.
func (n *Netns) Veth(t testing.TB, a, b string) (ia, ib uint32) {
	t.Helper()
	err := n.Do(func() error {
		v := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: a}, PeerName: b}
		if err := netlink.LinkAdd(v); err != nil {
			return fmt.Errorf("add veth %s: %w", a, err)
		}
		for _, name := range []string{a, b} {
			l, err := netlink.LinkByName(name)
			if err != nil {
				return fmt.Errorf("find %s: %w", name, err)
			}
			if err := netlink.LinkSetUp(l); err != nil {
				return fmt.Errorf("set %s up: %w", name, err)
			}
			if name == a {
				ia = uint32(l.Attrs().Index)
			} else {
				ib = uint32(l.Attrs().Index)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return ia, ib
}

// AttachTCX attaches prog with tcx at the device's ingress or egress
// (ebpf.AttachTCXIngress/Egress); cleanup detaches it.
func (n *Netns) AttachTCX(t testing.TB, ifindex uint32, prog *ebpf.Program, attach ebpf.AttachType) link.Link {
	t.Helper()
	var l link.Link
	err := n.Do(func() (err error) {
		l, err = link.AttachTCX(link.TCXOptions{Interface: int(ifindex), Program: prog, Attach: attach})
		return err
	})
	if errors.Is(err, ebpf.ErrNotSupported) {
		t.Skipf("tcx not supported by this kernel (needs 6.6): %v", err)
	}
	if err != nil {
		t.Fatalf("attach tcx to ifindex %d: %v", ifindex, err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("detach tcx: %v", err)
		}
	})
	return l
}

// AttachClsact adds a clsact qdisc to the device (if it has none) and a
// direct-action cls_bpf filter running prog at parent
// (netlink.HANDLE_MIN_INGRESS or HANDLE_MIN_EGRESS) with the given
// priority and handle; cleanup deletes the filter.
func (n *Netns) AttachClsact(t testing.TB, ifindex uint32, prog *ebpf.Program, parent uint32, prio uint16, handle uint32) {
	t.Helper()
	filter := &netlink.BpfFilter{
		FilterAttrs: netlink.FilterAttrs{
			LinkIndex: int(ifindex), Parent: parent, Handle: handle, Priority: prio, Protocol: unix.ETH_P_ALL,
		},
		Fd: prog.FD(), Name: "pktlife-test", DirectAction: true,
	}
	err := n.Do(func() error {
		q := &netlink.GenericQdisc{
			QdiscAttrs: netlink.QdiscAttrs{LinkIndex: int(ifindex), Handle: netlink.MakeHandle(0xffff, 0), Parent: netlink.HANDLE_CLSACT},
			QdiscType:  "clsact",
		}
		if err := netlink.QdiscAdd(q); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("add clsact: %w", err)
		}
		if err := netlink.FilterAdd(filter); err != nil {
			return fmt.Errorf("add filter: %w", err)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("attach cls_bpf to ifindex %d: %v", ifindex, err)
	}
	t.Cleanup(func() {
		if err := n.Do(func() error { return netlink.FilterDel(filter) }); err != nil {
			t.Errorf("delete filter: %v", err)
		}
	})
}
