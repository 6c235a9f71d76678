package trace_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/pktlife/pktlife/demo"
	"github.com/pktlife/pktlife/internal/ciliumbed"
	"github.com/pktlife/pktlife/internal/netnstest"
	"github.com/pktlife/pktlife/trace"
	"github.com/pktlife/pktlife/trace/journey"
)

// The second node: its external device faces the first node's (the
// "eth0" of each node, a veth pair: bonding is a VM-only module), and it
// hosts pod C, the backend of a second service, in 10.244.3.0/24. The
// nodes route each other's pod CIDR through the external devices, as
// Cilium's native routing mode leaves it to the kernel.
var (
	node1Ext     = netip.MustParsePrefix("192.168.77.1/24")
	node2Ext     = netip.MustParsePrefix("192.168.77.2/24")
	podCAddr     = netip.MustParsePrefix("10.244.3.2/24")
	podCGateway  = netip.MustParsePrefix("10.244.3.1/24")
	remoteVIP    = netip.AddrPortFrom(netip.MustParseAddr("10.96.0.20"), demo.BackendPort)
	extDevice    = "eth0"
	podCNodeIf   = "lxc-podc"
	ciliumHostEP = uint16(1) // the host endpoint's ID
	podCEndpoint = uint16(43)
	podCIdentity = uint32(23456)
)

// ciliumNodes is ciliumEnv plus a second node, bpf_host on both nodes'
// external devices and a service on node 1 whose backend is pod C on
// node 2.
type ciliumNodes struct {
	*ciliumEnv
	node2, podC *netnstest.NS
	remote      *demo.UDPServer // pod C
}

func (n *ciliumNodes) backend() netip.AddrPort {
	return netip.AddrPortFrom(podCAddr.Addr(), demo.BackendPort)
}

func newCiliumNodes(t *testing.T, version string) *ciliumNodes {
	t.Helper()
	e := newCiliumEnv(t, version)
	obj, compiled, err := ciliumbed.Compile(version, ciliumbed.Host)
	if errors.Is(err, ciliumbed.ErrDownload) {
		t.Skipf("cilium %s: %v", version, err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("cilium %s bpf_host: %s (compiled now: %v)", version, obj, compiled)
	sfx := netnstest.Suffix()
	n := &ciliumNodes{ciliumEnv: e}
	n.node2 = netnstest.New(t, "pl-cil-"+sfx+"-node2")
	n.podC = netnstest.New(t, "pl-cil-"+sfx+"-podc")
	netnstest.Veth(t, n.node2, podCNodeIf, podCGateway, n.podC, demo.PodIfName, podCAddr)
	n.route(t, n.podC.Handle(), netip.Prefix{}, podCGateway.Addr())
	n.linkNodes(t)
	node1 := nsHandle(t, e.topo.Node.Path)
	n.route(t, node1, podCAddr.Masked(), node2Ext.Addr())
	n.route(t, n.node2.Handle(), e.topo.PodA.Addr.Masked(), node1Ext.Addr())
	if err := n.node2.Do(func() error {
		return os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1"), 0o644)
	}); err != nil {
		t.Fatalf("forwarding on node 2: %v", err)
	}
	n.loadHost(t, obj, e.topo.Node.Path, node1, node1Ext.Addr())
	n.loadHost(t, obj, n.node2.Path, n.node2.Handle(), node2Ext.Addr())
	n.loadPodC(t)
	// Pod A may send to pod C's denied port; pod C's policy refuses it.
	if err := e.bed.AllowEgress(17, demo.DenyPort); err != nil {
		t.Fatal(err)
	}
	if err := e.bed.AddService(2, remoteVIP, n.backend()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	n.remote, err = demo.StartUDPEcho(ctx, n.podC.Path, n.backend())
	if err != nil {
		t.Fatalf("start pod C: %v", err)
	}
	t.Cleanup(func() { n.remote.Close() })
	return n
}

// nsHandle is a netlink handle in the namespace at path, closed at cleanup.
func nsHandle(t *testing.T, path string) *netlink.Handle {
	t.Helper()
	ns, err := netns.GetFromPath(path)
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		t.Fatalf("netlink in %s: %v", path, err)
	}
	t.Cleanup(h.Close)
	return h
}

// linkNodes joins the nodes' external devices.
func (n *ciliumNodes) linkNodes(t *testing.T) {
	t.Helper()
	ns, err := netns.GetFromPath(n.topo.Node.Path)
	if err != nil {
		t.Fatalf("open node 1: %v", err)
	}
	defer ns.Close()
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: extDevice}, PeerName: extDevice, PeerNamespace: netlink.NsFd(int(ns))}
	if err := n.node2.Handle().LinkAdd(veth); err != nil {
		t.Fatalf("add external veth: %v", err)
	}
	for _, side := range []struct {
		h    *netlink.Handle
		addr netip.Prefix
	}{{nsHandle(t, n.topo.Node.Path), node1Ext}, {n.node2.Handle(), node2Ext}} {
		l, err := side.h.LinkByName(extDevice)
		if err != nil {
			t.Fatalf("find %s: %v", extDevice, err)
		}
		ip := &net.IPNet{IP: side.addr.Addr().AsSlice(), Mask: net.CIDRMask(side.addr.Bits(), 32)}
		if err := side.h.AddrAdd(l, &netlink.Addr{IPNet: ip}); err != nil {
			t.Fatalf("address %s: %v", side.addr, err)
		}
		if err := side.h.LinkSetUp(l); err != nil {
			t.Fatalf("up %s: %v", extDevice, err)
		}
	}
}

// route adds dst via gw (the default route when dst is invalid).
func (n *ciliumNodes) route(t *testing.T, h *netlink.Handle, dst netip.Prefix, gw netip.Addr) {
	t.Helper()
	r := &netlink.Route{Gw: gw.AsSlice()}
	if dst.IsValid() {
		r.Dst = &net.IPNet{IP: dst.Addr().AsSlice(), Mask: net.CIDRMask(dst.Bits(), 32)}
	}
	if err := h.RouteAdd(r); err != nil {
		t.Fatalf("route %s via %s: %v", dst, gw, err)
	}
}

// loadHost attaches bpf_host to a node's external device, as the agent
// does on each native device.
func (n *ciliumNodes) loadHost(t *testing.T, obj, nsPath string, h *netlink.Handle, ip netip.Addr) {
	t.Helper()
	l, err := h.LinkByName(extDevice)
	if err != nil {
		t.Fatalf("find %s: %v", extDevice, err)
	}
	bed, err := ciliumbed.Load(obj, ciliumbed.Options{
		NetnsPath:  nsPath,
		Ifindex:    l.Attrs().Index,
		Legacy:     ciliumLegacy(t, n.version),
		EndpointIP: ip,
		EndpointID: ciliumHostEP,
		DeviceMAC:  [6]byte(l.Attrs().HardwareAddr),
		PinDir:     bpffs(t),
		Entries:    ciliumbed.Netdev,
	})
	if err != nil {
		t.Fatalf("load cilium %s bpf_host on %s: %v", n.version, nsPath, err)
	}
	t.Cleanup(func() {
		if err := bed.Close(); err != nil {
			t.Errorf("close bpf_host: %v", err)
		}
	})
}

// loadPodC attaches bpf_lxc's to-container side on pod C's lxc device
// (its egress, towards the pod), with a policy that lets pod C receive
// the service's port.
func (n *ciliumNodes) loadPodC(t *testing.T) {
	t.Helper()
	obj, _, err := ciliumbed.Compile(n.version, ciliumbed.LXC)
	if err != nil {
		t.Fatal(err)
	}
	l := n.node2.Link(t, podCNodeIf)
	bed, err := ciliumbed.Load(obj, ciliumbed.Options{
		NetnsPath:  n.node2.Path,
		Ifindex:    l.Attrs().Index,
		Legacy:     ciliumLegacy(t, n.version),
		EndpointIP: podCAddr.Addr(),
		EndpointID: podCEndpoint,
		Identity:   podCIdentity,
		DeviceMAC:  [6]byte(l.Attrs().HardwareAddr),
		PinDir:     bpffs(t),
		Entries:    []ciliumbed.Entry{{Prog: "cil_to_container", Egress: true}},
	})
	if err != nil {
		t.Fatalf("load cilium %s bpf_lxc on %s: %v", n.version, podCNodeIf, err)
	}
	t.Cleanup(func() {
		if err := bed.Close(); err != nil {
			t.Errorf("close pod C's bpf_lxc: %v", err)
		}
	})
	if err := bed.AllowIngress(17, demo.BackendPort); err != nil {
		t.Fatal(err)
	}
	// Node 2's ipcache knows pod A by its identity, as the agent learns
	// remote endpoints from the cluster.
	if err := bed.AddIdentity(netip.PrefixFrom(n.topo.PodA.IP(), 32), ciliumIdentity); err != nil {
		t.Fatal(err)
	}
}

// TestCiliumNodes: pod A on node 1 sends to a service whose backend is
// pod C on node 2. bpf_lxc translates it on pod A's lxc, bpf_host sees it
// leave node 1's external device and enter node 2's, pod C receives it
// from pod A: every hop in one journey, each tc hop with its programs.
func TestCiliumNodes(t *testing.T) {
	for _, v := range []string{ciliumbed.V114, ciliumbed.V118} {
		t.Run(v, func(t *testing.T) {
			n := newCiliumNodes(t, v)
			netns := []string{n.topo.Node.Path, n.topo.PodA.Path, n.node2.Path, n.podC.Path}
			tr := newInterposer(t, stateDir(t), trace.Options{
				Filter:   trace.Filter{Proto: 17, Host: netip.PrefixFrom(n.topo.PodA.IP(), 32)},
				Netns:    netns,
				LegacyTC: ciliumLegacy(t, v),
			})
			c := collect(t, tr)
			udpFrom(t, n.topo.PodA.Path, n.client(40003), remoteVIP, []byte("to the remote service"), false)
			d, ok := received(n.remote, 3*time.Second)
			if !ok {
				t.Fatalf("pod C received nothing sent to the service")
			}
			if d.From != n.client(40003) {
				t.Errorf("pod C got a datagram from %s, want %s", d.From, n.client(40003))
			}
			j := c.wait(t, "to the remote service", func(j *journey.Journey) bool {
				return j.Tuple.Src == n.client(40003) && j.Tuple.Dst == remoteVIP && !strayConsume(t, j)
			})
			t.Logf("service packet to node 2:\n%s", rendered(j))
			n.checkPath(t, j)

			deny := netip.AddrPortFrom(podCAddr.Addr(), demo.DenyPort)
			udpFrom(t, n.topo.PodA.Path, n.client(40004), deny, []byte("denied on node 2"), false)
			drop := c.wait(t, "denied on node 2", func(j *journey.Journey) bool {
				return j.Tuple.Src == n.client(40004) && j.Tuple.Dst == deny
			})
			t.Logf("packet pod C's policy denies:\n%s", rendered(drop))
			n.checkIngressDrop(t, drop)
		})
	}
}

// checkPath checks the tc hops in order: pod A's lxc (DNAT by
// tail_handle_ipv4), node 1's external device on the way out
// (cil_to_netdev), node 2's on the way in (cil_from_netdev and its
// tail_handle_ipv4_from_netdev), then pod C's lxc on node 2
// (cil_to_container → tail_ipv4_to_endpoint, where its policy lets it in).
func (n *ciliumNodes) checkPath(t *testing.T, j *journey.Journey) {
	t.Helper()
	want := []struct {
		hook            journey.Hook
		dev, prog, tail string
	}{
		{journey.HookTCIngress, n.topo.PodA.NodeIfName, "cil_from_container", "tail_handle_ipv4"},
		{journey.HookTCEgress, extDevice, "cil_to_netdev", ""},
		{journey.HookTCIngress, extDevice, "cil_from_netdev", "tail_handle_ipv4_from_netdev"},
		{journey.HookTCEgress, podCNodeIf, "cil_to_container", "tail_ipv4_to_endpoint"},
	}
	i := 0
	for _, h := range j.Hops {
		if i == len(want) {
			break
		}
		w := want[i]
		if h.Hook != w.hook || h.Device.Name != w.dev {
			continue
		}
		i++
		if len(h.Progs) == 0 || h.Progs[0].Name != w.prog {
			t.Errorf("%s %s: programs %v, want %s", w.hook, w.dev, h.Progs, w.prog)
		}
		if w.tail != "" && !slices.ContainsFunc(h.TailCalls, func(tc journey.TailCall) bool { return tc.Prog.Name == w.tail }) {
			t.Errorf("%s %s: tail calls %v, want one into %s", w.hook, w.dev, h.TailCalls, w.tail)
		}
		if h.Verdict == "" || h.Verdict == "TC_ACT_SHOT" {
			t.Errorf("%s %s: verdict %q, want the packet let through", w.hook, w.dev, h.Verdict)
		}
	}
	if i < len(want) {
		t.Errorf("journey lacks %s %s (and what follows):\n%s", want[i].hook, want[i].dev, describe(j))
	}
	if len(j.NAT) != 1 || j.NAT[0].Kind != "dnat" || j.NAT[0].New.Dst != n.backend() || j.NAT[0].Prog != "tail_handle_ipv4" {
		t.Errorf("NAT %+v, want one DNAT to %s by tail_handle_ipv4", j.NAT, n.backend())
	}
	if j.Fate != journey.FateDelivered {
		t.Errorf("fate %s, want delivered", j.Fate)
	}
}

// checkIngressDrop checks a packet that crossed both nodes and that pod C's
// ingress policy dropped: Cilium's reason and the verdict on the tc hop
// of pod C's lxc, the journey dropped.
func (n *ciliumNodes) checkIngressDrop(t *testing.T, j *journey.Journey) {
	t.Helper()
	i := slices.IndexFunc(j.Hops, func(h journey.Hop) bool {
		return h.Hook == journey.HookTCEgress && h.Device.Name == podCNodeIf
	})
	if i < 0 {
		t.Errorf("denied packet: no tc-egress hop on %s:\n%s", podCNodeIf, describe(j))
		return
	}
	h := j.Hops[i]
	if h.DropReason != "Policy denied (133)" || h.Verdict != "TC_ACT_SHOT" {
		t.Errorf("denied packet at %s: reason %q, verdict %q; want Policy denied (133), TC_ACT_SHOT", podCNodeIf, h.DropReason, h.Verdict)
	}
	if !slices.ContainsFunc(j.Hops[:i], func(h journey.Hop) bool {
		return h.Hook == journey.HookTCIngress && h.Device.Name == extDevice
	}) {
		t.Errorf("denied packet: no tc-ingress on node 2's %s before the drop:\n%s", extDevice, describe(j))
	}
	if r, want := lastJumpReason(j), fmt.Sprintf("identity %d → %d", ciliumIdentity, podCIdentity); !strings.Contains(r, want) {
		t.Errorf("denied packet: drop notification %q, want %s (pod A's identity from node 2's ipcache)", r, want)
	}
	if j.Fate != journey.FateDropped {
		t.Errorf("denied packet: fate %s, want dropped", j.Fate)
	}
}
