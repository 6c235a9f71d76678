package vm_test

// These tests run inside the VM only (vmexec sets PKTLIFE_VM): they prove the
// VM gives what this machine's kernel refuses. Run them with
//
//	CGO_ENABLED=0 go test -exec "$PWD/bin/vmexec -kernel 6.1" ./internal/vm/

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/pktlife/pktlife/internal/vm/vmtest"
)

// TestKprobeAndFentryFire attaches a kprobe on __dev_queue_xmit and an
// fentry on __netif_receive_skb, pings across a veth pair between two fresh
// namespaces, and checks both counted the packets.
func TestKprobeAndFentryFire(t *testing.T) {
	release := vmtest.Require(t)
	t.Logf("kernel %s", release)

	kprobeHits := newCounter(t)
	kp := loadCounterProg(t, &ebpf.ProgramSpec{Name: "kp_xmit", Type: ebpf.Kprobe}, kprobeHits)
	kl, err := link.Kprobe("__dev_queue_xmit", kp, nil)
	if err != nil {
		t.Fatalf("attach kprobe on __dev_queue_xmit: %v", err)
	}
	t.Cleanup(func() { kl.Close() })

	fentryHits := newCounter(t)
	fe := loadCounterProg(t, &ebpf.ProgramSpec{
		Name:       "fe_rcv",
		Type:       ebpf.Tracing,
		AttachType: ebpf.AttachTraceFEntry,
		AttachTo:   "__netif_receive_skb",
	}, fentryHits)
	fl, err := link.AttachTracing(link.TracingOptions{Program: fe})
	if err != nil {
		t.Fatalf("attach fentry on __netif_receive_skb: %v", err)
	}
	t.Cleanup(func() { fl.Close() })

	a, b := newNetns(t), newNetns(t)
	ip(t, "-n", a, "link", "add", "va", "type", "veth", "peer", "name", "vb", "netns", b)
	ip(t, "-n", a, "addr", "add", "10.77.0.1/24", "dev", "va")
	ip(t, "-n", b, "addr", "add", "10.77.0.2/24", "dev", "vb")
	ip(t, "-n", a, "link", "set", "va", "up")
	ip(t, "-n", b, "link", "set", "vb", "up")

	kBefore, fBefore := read(t, kprobeHits), read(t, fentryHits)
	const pings = 3
	ip(t, "netns", "exec", a, "ping", "-A", "-c", fmt.Sprint(pings), "-W", "5", "10.77.0.2")
	kDelta, fDelta := read(t, kprobeHits)-kBefore, read(t, fentryHits)-fBefore
	t.Logf("kprobe __dev_queue_xmit: %d hits, fentry __netif_receive_skb: %d hits", kDelta, fDelta)
	// Each echo request and reply is queued once and received once.
	if kDelta < 2*pings {
		t.Errorf("kprobe on __dev_queue_xmit fired %d times for %d pings, want at least %d", kDelta, pings, 2*pings)
	}
	if fDelta < 2*pings {
		t.Errorf("fentry on __netif_receive_skb fired %d times for %d pings, want at least %d", fDelta, pings, 2*pings)
	}
}

// TestBondIpvlanVlan builds the devices this machine's kernel has no modules
// for: a bond with two veth slaves, an ipvlan and an 802.1q VLAN on a dummy.
func TestBondIpvlanVlan(t *testing.T) {
	vmtest.Require(t)
	ns := newNetns(t)
	ip(t, "-n", ns, "link", "add", "bond0", "type", "bond", "mode", "active-backup")
	for _, v := range []string{"vs1", "vs2"} {
		ip(t, "-n", ns, "link", "add", v, "type", "veth", "peer", "name", v+"p")
		ip(t, "-n", ns, "link", "set", v, "master", "bond0")
	}
	ip(t, "-n", ns, "link", "add", "dummy0", "type", "dummy")
	ip(t, "-n", ns, "link", "add", "ipvl0", "link", "dummy0", "type", "ipvlan", "mode", "l2")
	ip(t, "-n", ns, "link", "add", "link", "dummy0", "name", "dummy0.10", "type", "vlan", "id", "10")

	h := handleAt(t, ns)
	bond := linkByName(t, h, "bond0")
	if b, ok := bond.(*netlink.Bond); !ok || b.Mode != netlink.BOND_MODE_ACTIVE_BACKUP {
		t.Errorf("bond0 is %s %+v, want an active-backup bond", bond.Type(), bond.Attrs())
	}
	for _, v := range []string{"vs1", "vs2"} {
		if got := linkByName(t, h, v).Attrs().MasterIndex; got != bond.Attrs().Index {
			t.Errorf("%s has master ifindex %d, want bond0's %d", v, got, bond.Attrs().Index)
		}
	}
	dummy := linkByName(t, h, "dummy0")
	if dummy.Type() != "dummy" {
		t.Errorf("dummy0 has type %q", dummy.Type())
	}
	ipvl := linkByName(t, h, "ipvl0")
	if iv, ok := ipvl.(*netlink.IPVlan); !ok || iv.Mode != netlink.IPVLAN_MODE_L2 || iv.Attrs().ParentIndex != dummy.Attrs().Index {
		t.Errorf("ipvl0 is %s %+v, want an l2 ipvlan on dummy0", ipvl.Type(), ipvl.Attrs())
	}
	vlan := linkByName(t, h, "dummy0.10")
	if v, ok := vlan.(*netlink.Vlan); !ok || v.VlanId != 10 {
		t.Errorf("dummy0.10 is %s %+v, want VLAN 10", vlan.Type(), vlan.Attrs())
	}

	mods, err := os.ReadFile("/proc/modules")
	if err != nil {
		t.Fatalf("read /proc/modules: %v", err)
	}
	for _, m := range []string{"bonding", "ipvlan", "veth", "dummy", "8021q"} {
		if !strings.Contains(string(mods), m+" ") {
			t.Errorf("module %s is not loaded", m)
		}
	}
}

func newCounter(t *testing.T) *ebpf.Map {
	t.Helper()
	m, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.Array, KeySize: 4, ValueSize: 8, MaxEntries: 1})
	if err != nil {
		t.Fatalf("create counter map: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// loadCounterProg loads spec with a body that adds one to counter[0].
func loadCounterProg(t *testing.T, spec *ebpf.ProgramSpec, counter *ebpf.Map) *ebpf.Program {
	t.Helper()
	spec.License = "GPL"
	spec.Instructions = asm.Instructions{
		asm.StoreImm(asm.RFP, -4, 0, asm.Word),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -4),
		asm.LoadMapPtr(asm.R1, counter.FD()),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "out"),
		asm.Mov.Imm(asm.R1, 1),
		asm.StoreXAdd(asm.R0, asm.R1, asm.DWord),
		asm.Mov.Imm(asm.R0, 0).WithSymbol("out"),
		asm.Return(),
	}
	p, err := ebpf.NewProgram(spec)
	var ve *ebpf.VerifierError
	if errors.As(err, &ve) {
		t.Fatalf("load %s: %+v", spec.Name, ve)
	}
	if err != nil {
		t.Fatalf("load %s: %v", spec.Name, err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func read(t *testing.T, m *ebpf.Map) uint64 {
	t.Helper()
	var v uint64
	if err := m.Lookup(uint32(0), &v); err != nil {
		t.Fatalf("read counter: %v", err)
	}
	return v
}

// newNetns creates a uniquely named namespace and deletes it after the test.
func newNetns(t *testing.T) string {
	t.Helper()
	name := fmt.Sprintf("pktlife-vm-%08x", rand.Uint32())
	ip(t, "netns", "add", name)
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("delete netns %s: %v: %s", name, err, out)
		}
	})
	return name
}

func ip(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

func handleAt(t *testing.T, name string) *netlink.Handle {
	t.Helper()
	ns, err := netns.GetFromName(name)
	if err != nil {
		t.Fatalf("open netns %s: %v", name, err)
	}
	t.Cleanup(func() { ns.Close() })
	h, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		t.Fatalf("open netlink in %s: %v", name, err)
	}
	t.Cleanup(h.Close)
	return h
}

func linkByName(t *testing.T, h *netlink.Handle, name string) netlink.Link {
	t.Helper()
	l, err := h.LinkByName(name)
	if err != nil {
		t.Fatalf("find link %s: %v", name, err)
	}
	return l
}
