package trace_test

import (
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/pktlife/pktlife/internal/netnstest"
	"github.com/pktlife/pktlife/internal/vm/vmtest"
	"github.com/pktlife/pktlife/trace"
	"github.com/pktlife/pktlife/trace/journey"
)

// These tests need kprobes and fentry/fexit, bonding and ipvlan: they run
// in the VM on Debian's kernels (make test-vm).

func kfuncIndex(j *journey.Journey, name, dev string) int {
	for i, h := range j.Hops {
		if h.Hook == journey.HookKfunc && h.Kfunc() == name && (dev == "" || h.Device.Name == dev) {
			return i
		}
	}
	return -1
}

func kfuncSeq(j *journey.Journey) string {
	var s []string
	for _, h := range j.Hops {
		n := h.Hook.String()
		if h.Kfunc() != "" {
			n = h.Kfunc()
			if h.Hook == journey.HookKfuncRet {
				n += "()=" + itoa(h.Ret)
			}
		}
		s = append(s, n+"@"+h.Device.Name)
	}
	return strings.Join(s, " ")
}

func itoa(p *int64) string {
	if p == nil {
		return "?"
	}
	return strconv.FormatInt(*p, 10)
}

// assertKfuncOrder checks that the kernel-function hops appear in order.
func assertKfuncOrder(t *testing.T, j *journey.Journey, steps ...[2]string) {
	t.Helper()
	prev := -1
	for _, s := range steps {
		i := kfuncIndex(j, s[0], s[1])
		if i < 0 || i < prev {
			t.Errorf("hop %s@%s missing or out of order in [%s]", s[0], s[1], kfuncSeq(j))
			return
		}
		prev = i
	}
}

func addLink(t *testing.T, ns *netnstest.NS, l netlink.Link) netlink.Link {
	t.Helper()
	if err := ns.Handle().LinkAdd(l); err != nil {
		t.Fatalf("add %s: %v", l.Attrs().Name, err)
	}
	return ns.Link(t, l.Attrs().Name)
}

func addAddr(t *testing.T, ns *netnstest.NS, l netlink.Link, p string) {
	t.Helper()
	pfx := netip.MustParsePrefix(p)
	ip := &net.IPNet{IP: pfx.Addr().AsSlice(), Mask: net.CIDRMask(pfx.Bits(), 32)}
	if err := ns.Handle().AddrAdd(l, &netlink.Addr{IPNet: ip}); err != nil {
		t.Fatalf("address %s on %s: %v", p, l.Attrs().Name, err)
	}
	if err := ns.Handle().LinkSetUp(l); err != nil {
		t.Fatalf("up %s: %v", l.Attrs().Name, err)
	}
}

// bondPair builds two namespaces, each with a bond0 over two veths to the
// other: node (10.50.0.1) and peer (10.50.0.2).
func bondPair(t *testing.T) (node, peer *netnstest.NS) {
	s := netnstest.Suffix()
	node = netnstest.New(t, "pl-bond-n-"+s)
	peer = netnstest.New(t, "pl-bond-p-"+s)
	netnstest.Veth(t, node, "n1", netip.Prefix{}, peer, "p1", netip.Prefix{})
	netnstest.Veth(t, node, "n2", netip.Prefix{}, peer, "p2", netip.Prefix{})
	for _, side := range []struct {
		ns     *netnstest.NS
		slaves [2]string
		addr   string
	}{{node, [2]string{"n1", "n2"}, "10.50.0.1/24"}, {peer, [2]string{"p1", "p2"}, "10.50.0.2/24"}} {
		b := netlink.NewLinkBond(netlink.LinkAttrs{Name: "bond0"})
		b.Mode = netlink.BOND_MODE_ACTIVE_BACKUP
		bond := addLink(t, side.ns, b)
		for _, sl := range side.slaves {
			l := side.ns.Link(t, sl)
			side.ns.Handle().LinkSetDown(l)
			if err := side.ns.Handle().LinkSetMaster(l, bond); err != nil {
				t.Fatalf("enslave %s: %v", sl, err)
			}
			side.ns.Handle().LinkSetUp(l)
		}
		addAddr(t, side.ns, bond, side.addr)
	}
	return node, peer
}

func sendUDP(t *testing.T, from, to *netnstest.NS, laddr, raddr string) {
	t.Helper()
	srv := to.ListenUDP(t, raddr)
	cli := from.DialUDP(t, laddr, raddr)
	deadline := time.Now().Add(10 * time.Second)
	buf := make([]byte, 64)
	for time.Now().Before(deadline) {
		cli.Write([]byte("kfunc"))
		srv.SetReadDeadline(time.Now().Add(time.Second))
		if _, _, err := srv.ReadFrom(buf); err == nil {
			return
		}
	}
	t.Fatalf("no datagram from %s to %s", laddr, raddr)
}

func TestVMKfuncThroughBond(t *testing.T) {
	release := vmtest.Require(t)
	for _, backend := range []string{trace.MechFentry, trace.MechKprobeMulti, trace.MechKprobe} {
		t.Run(backend, func(t *testing.T) {
			node, peer := bondPair(t)
			began := time.Now()
			tr, journeys := start(t, trace.Options{
				Filter:       trace.Filter{Proto: 17, Dport: 9100},
				Netns:        []string{node.Path, peer.Path},
				Hops:         []string{"all"},
				KfuncBackend: backend,
			})
			attach := time.Since(began)
			reported := requireAttached(t, tr, backend, "bond_start_xmit", "bond_handle_frame", "dev_queue_xmit", "ip_rcv", "ip_local_deliver", "veth_xmit")
			if len(reported) > 0 {
				t.Skipf("%s: fentry impossible on module functions here, reported: %v", release, reported)
			}
			sendUDP(t, node, peer, "10.50.0.1:0", "10.50.0.2:9100")
			j := waitJourney(t, journeys, func(j *journey.Journey) bool { return j.Tuple.Dst.Port() == 9100 && j.Fate == journey.FateDelivered })
			t.Logf("%s %s attach %s: %s", release, backend, attach, kfuncSeq(j))
			assertKfuncOrder(t, j,
				[2]string{"ip_output", ""},
				[2]string{"dev_queue_xmit", "bond0"},
				[2]string{"bond_start_xmit", "bond0"},
				[2]string{"veth_xmit", ""},
				[2]string{"bond_handle_frame", ""},
				[2]string{"ip_rcv", "bond0"},
				[2]string{"ip_local_deliver", "bond0"},
			)
		})
	}
}

func TestVMKfuncThroughIpvlan(t *testing.T) {
	vmtest.Require(t)
	s := netnstest.Suffix()
	pod := netnstest.New(t, "pl-ipv-pod-"+s)
	node := netnstest.New(t, "pl-ipv-node-"+s)
	peer := netnstest.New(t, "pl-ipv-peer-"+s)
	netnstest.Veth(t, node, "up0", netip.Prefix{}, peer, "pe0", netip.MustParsePrefix("10.60.0.2/24"))
	up := node.Link(t, "up0")
	node.Handle().LinkSetUp(up)
	ipv := &netlink.IPVlan{LinkAttrs: netlink.LinkAttrs{Name: "ipv0", ParentIndex: up.Attrs().Index}, Mode: netlink.IPVLAN_MODE_L2}
	addLink(t, node, ipv)
	if err := node.Handle().LinkSetNsFd(node.Link(t, "ipv0"), int(podFd(t, pod))); err != nil {
		t.Fatalf("move ipv0 to the pod: %v", err)
	}
	addAddr(t, pod, pod.Link(t, "ipv0"), "10.60.0.5/24")

	tr, journeys := start(t, trace.Options{
		Filter: trace.Filter{Proto: 17, Dport: 9200},
		Netns:  []string{pod.Path, node.Path, peer.Path},
		Hops:   []string{"all"},
	})
	requireAttached(t, tr, "", "ipvlan_queue_xmit")
	sendUDP(t, pod, peer, "10.60.0.5:0", "10.60.0.2:9200")
	j := waitJourney(t, journeys, func(j *journey.Journey) bool { return j.Tuple.Dst.Port() == 9200 && j.Fate == journey.FateDelivered })
	t.Logf("ipvlan: %s", kfuncSeq(j))
	assertKfuncOrder(t, j,
		[2]string{"dev_queue_xmit", "ipv0"},
		[2]string{"ipvlan_queue_xmit", "ipv0"},
		[2]string{"dev_queue_xmit", "up0"},
		[2]string{"veth_xmit", "up0"},
		[2]string{"ip_rcv", "pe0"},
	)
}

func podFd(t *testing.T, ns *netnstest.NS) uintptr {
	t.Helper()
	fd, err := unix.Open(ns.Path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return uintptr(fd)
}

// tcProgram returns a tc program that returns verdict for every packet.
func tcProgram(t *testing.T, verdict int32) *ebpf.Program {
	t.Helper()
	p, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Type:         ebpf.SchedCLS,
		License:      "GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, verdict), asm.Return()},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// TestVMLegacyTCAndTCX: tcf_classify and cls_bpf_classify appear, with the
// verdict from fexit, for a device with legacy clsact filters, and not for a
// device that runs its program with tcx; a drop's verdict matches its fate.
func TestVMLegacyTCAndTCX(t *testing.T) {
	release := vmtest.Require(t)
	a, b := pair(t) // va 10.99.0.1 — vb 10.99.0.2
	// legacy: clsact + cls_bpf on vb: drop port 9302 (SHOT), pass the rest
	q := &netlink.GenericQdisc{QdiscAttrs: netlink.QdiscAttrs{LinkIndex: b.Link(t, "vb").Attrs().Index, Handle: netlink.MakeHandle(0xffff, 0), Parent: netlink.HANDLE_CLSACT}, QdiscType: "clsact"}
	if err := b.Handle().QdiscAdd(q); err != nil {
		t.Fatal(err)
	}
	shot := tcProgram(t, 2) // TC_ACT_SHOT
	f := &netlink.BpfFilter{
		FilterAttrs:  netlink.FilterAttrs{LinkIndex: b.Link(t, "vb").Attrs().Index, Parent: netlink.HANDLE_MIN_INGRESS, Handle: 1, Priority: 10, Protocol: unix.ETH_P_IP},
		Fd:           shot.FD(),
		Name:         "test_drop",
		DirectAction: true,
	}
	if err := b.Handle().FilterAdd(f); err != nil {
		t.Fatal(err)
	}
	// tcx on va's egress where tcx exists (6.6+): passes everything
	tcxOK := false
	a.Do(func() error {
		lk, err := link.AttachTCX(link.TCXOptions{Interface: a.Link(t, "va").Attrs().Index, Program: tcProgram(t, 0), Attach: ebpf.AttachTCXEgress})
		if err == nil {
			tcxOK = true
			t.Cleanup(func() { lk.Close() })
		}
		return nil
	})

	tr, journeys := start(t, trace.Options{
		Filter: trace.Filter{Proto: 17, Dport: 9302},
		Netns:  []string{a.Path, b.Path},
		Hops:   []string{"all"},
	})
	requireAttached(t, tr, "", "tcf_classify", "cls_bpf_classify")
	cli := a.DialUDP(t, "", "10.99.0.2:9302")
	cli.Write([]byte("drop me"))
	j := waitJourney(t, journeys, func(j *journey.Journey) bool { return j.Tuple.Dst.Port() == 9302 && len(j.Hops) > 3 })
	t.Logf("%s tcx=%v: %s", release, tcxOK, kfuncSeq(j))
	if j.Fate != journey.FateDropped {
		t.Errorf("fate %s, want dropped", j.Fate)
	}
	// On kernels without tcx pktlife's own observer is a cls_bpf filter too
	// (returning TC_ACT_UNSPEC, -1): look for the test filter's verdict.
	var rets []int64
	for _, h := range j.Hops {
		if h.Hook == journey.HookKfuncRet && h.Kfunc() == "cls_bpf_classify" && h.Device.Name == "vb" && h.Ret != nil {
			rets = append(rets, *h.Ret)
		}
		if h.Hook == journey.HookKfunc && (h.Kfunc() == "tcf_classify" || h.Kfunc() == "cls_bpf_classify") && h.Device.Name == "va" && tcxOK {
			t.Errorf("%s on va, where the program runs by tcx: [%s]", h.Kfunc(), kfuncSeq(j))
		}
	}
	if !moduleHasBTF("cls_bpf") { // cls_bpf_classify by kprobe: no return value
		t.Logf("%s: cls_bpf has no BTF: no fexit, no verdict from cls_bpf_classify to check", release)
		return
	}
	if !slices.Contains(rets, 2) {
		t.Errorf("cls_bpf_classify on vb returned %v, want a 2 (TC_ACT_SHOT): [%s]", rets, kfuncSeq(j))
	}
}

// TestVMHopsReport: pktlife hops reports fentry for kernel functions here.
func TestVMHopsReport(t *testing.T) {
	vmtest.Require(t)
	hs, err := trace.ProbeHops()
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hs {
		switch h.Name {
		case "veth_xmit":
			if want := trace.MechFentry; (!h.Supported || h.Mechanism != want) && moduleHasBTF("veth") {
				t.Errorf("%s: supported %v by %q (%s), want %s", h.Name, h.Supported, h.Mechanism, h.Reason, want)
			} else if !moduleHasBTF("veth") && (!h.Supported || h.Mechanism != trace.MechKprobe) {
				t.Errorf("%s: supported %v by %q (%s), want kprobe (veth has no BTF)", h.Name, h.Supported, h.Mechanism, h.Reason)
			}
		case "ip_rcv", "dev_queue_xmit":
			if !h.Supported || h.Mechanism != trace.MechFentry {
				t.Errorf("%s: supported %v by %q (%s), want fentry", h.Name, h.Supported, h.Mechanism, h.Reason)
			}
		case "tcf_classify":
			if !h.Supported || h.Mechanism != trace.MechFentry+"+fexit" {
				t.Errorf("%s: %q %s, want fentry+fexit", h.Name, h.Mechanism, h.Reason)
			}
		}
	}
}

// TestVMAttachDefaultSet attaches and detaches the default hop set with
// each kernel-function backend and reports how long each took (a figure for
// the notes, not an assertion: under TCG emulation it says little about
// real hardware; the benchmarks measure it on this machine's kernel).
func TestVMAttachDefaultSet(t *testing.T) {
	release := vmtest.Require(t)
	a, b := pair(t)
	// the same set without kernel functions, as the baseline
	var base []string
	for _, h := range trace.Hops() {
		if h.Default && h.Kind != trace.KindKfunc {
			base = append(base, h.Name)
		}
	}
	for _, backend := range []string{"none", trace.MechFentry, trace.MechKprobeMulti, trace.MechKprobe} {
		opts := trace.Options{Netns: []string{a.Path, b.Path}, KfuncBackend: backend, TailCalls: trace.TailCallsOff}
		if backend == "none" {
			opts.KfuncBackend, opts.Hops = "", base
		}
		began := time.Now()
		tr, err := trace.New(opts)
		if err != nil {
			t.Fatal(err)
		}
		attach := time.Since(began)
		n := 0
		for _, at := range tr.Attached() {
			if at.Err == nil {
				n++
			}
		}
		began = time.Now()
		if err := tr.Close(); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s %s: default set, %d attachments: attach %s, detach %s", release, backend, n, attach.Round(time.Millisecond), time.Since(began).Round(time.Millisecond))
	}
}
