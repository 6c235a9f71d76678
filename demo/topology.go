package demo

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"os"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// The demo's addressing plan. Every topology uses the same addresses: they
// live only inside its own namespaces.
const (
	DefaultPrefix = "pktlife-demo" // first part of every namespace name
	ServicePort   = 80             // the service's port on the VIP
	BackendPort   = 8080           // pod B's port behind the service
	DenyPort      = 9999           // destination port demo_policy drops
	PodIfName     = "eth0"         // the pods' end of each veth pair
	PodANodeIf    = "lxc-poda"     // the node's end of pod A's veth pair
	PodBNodeIf    = "lxc-podb"     // the node's end of pod B's veth pair
)

var (
	// ServiceAddr is the service VIP, routed from pod A via the node.
	ServiceAddr = netip.MustParseAddr("10.96.0.10")
	podAAddr    = netip.MustParsePrefix("10.244.1.2/24")
	podAGateway = netip.MustParsePrefix("10.244.1.1/24")
	podBAddr    = netip.MustParsePrefix("10.244.2.2/24")
	podBGateway = netip.MustParsePrefix("10.244.2.1/24")
)

// Options configures NewTopology.
type Options struct {
	// Prefix starts every namespace name; "-<random>-node", "-<random>-poda"
	// and "-<random>-podb" follow. Empty means DefaultPrefix.
	Prefix string
	// SoftwareChecksums turns checksum offload off on every veth end: the
	// pods then send fully checksummed packets and verify what they
	// receive, so a NAT that gets checksums wrong loses its packets. With
	// offload on (veth's default) checksums go unchecked between the pods.
	SoftwareChecksums bool
}

// Pod is one end of the topology: a namespace linked to the node by a veth
// pair.
type Pod struct {
	Netns
	IfName      string       // the pod's end of the veth pair (PodIfName)
	Ifindex     int          // its index, in the pod's namespace
	Addr        netip.Prefix // the pod's address, e.g. 10.244.1.2/24
	Gateway     netip.Addr   // the node's address on this link, the pod's default route
	NodeIfName  string       // the node's end of the veth pair
	NodeIfindex int          // its index, in the node's namespace
}

// IP returns the pod's address without its prefix length.
func (p Pod) IP() netip.Addr { return p.Addr.Addr() }

// Topology is three network namespaces: pod A and pod B, each linked by a
// veth pair to the node, which forwards between them.
type Topology struct {
	ID      string         // the random part of the namespace names
	Node    Netns          // the node; ip_forward is on
	PodA    Pod            // the client
	PodB    Pod            // the backend behind the service
	Service netip.AddrPort // the service VIP and port (ServiceAddr:ServicePort)

	handles []netns.NsHandle // open handles, in the order of names
	names   []string         // namespaces created, for Close
	owner   *owner           // held while the topology exists
	closed  bool
}

// Backend returns pod B's address and port behind the service.
func (t *Topology) Backend() netip.AddrPort {
	return netip.AddrPortFrom(t.PodB.IP(), BackendPort)
}

// Namespaces returns the topology's namespaces: node, pod A, pod B.
func (t *Topology) Namespaces() []Netns { return []Netns{t.Node, t.PodA.Netns, t.PodB.Netns} }

// NewTopology creates the namespaces, links and routes. ctx bounds only the
// setup. Close removes everything it created.
func NewTopology(ctx context.Context, opts Options) (topo *Topology, err error) {
	prefix := opts.Prefix
	if prefix == "" {
		prefix = DefaultPrefix
	}
	id, err := randomID(4)
	if err != nil {
		return nil, err
	}
	base := prefix + "-" + id
	own, err := lockOwner(base)
	if err != nil {
		return nil, err
	}
	t := &Topology{
		owner:   own,
		ID:      id,
		Node:    Netns{Name: base + "-node"},
		Service: netip.AddrPortFrom(ServiceAddr, ServicePort),
		PodA: Pod{
			Netns: Netns{Name: base + "-poda"}, IfName: PodIfName, Addr: podAAddr,
			Gateway: podAGateway.Addr(), NodeIfName: PodANodeIf,
		},
		PodB: Pod{
			Netns: Netns{Name: base + "-podb"}, IfName: PodIfName, Addr: podBAddr,
			Gateway: podBGateway.Addr(), NodeIfName: PodBNodeIf,
		},
	}
	defer func() {
		if err != nil {
			t.Close()
		}
	}()

	for _, n := range []*Netns{&t.Node, &t.PodA.Netns, &t.PodB.Netns} {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("create topology: %w", err)
		}
		n.Path = NetnsDir + "/" + n.Name
		h, err := createNetns(n.Name)
		if err != nil {
			return nil, err
		}
		t.names = append(t.names, n.Name)
		t.handles = append(t.handles, h)
		if err := doInNetns(h, setupNetns); err != nil {
			return nil, fmt.Errorf("set up netns %s: %w", n.Name, err)
		}
	}
	if err := doInNetns(t.handles[0], func() error { return writeSysctl("net.ipv4.ip_forward", "1") }); err != nil {
		return nil, fmt.Errorf("set up node: %w", err)
	}
	if err := t.linkPod(ctx, &t.PodA, t.handles[1], podAGateway, opts.SoftwareChecksums); err != nil {
		return nil, err
	}
	if err := t.linkPod(ctx, &t.PodB, t.handles[2], podBGateway, opts.SoftwareChecksums); err != nil {
		return nil, err
	}
	return t, nil
}

// setupNetns runs inside a new namespace: loopback up, IPv6 off so that no
// router solicitations or DAD packets wander through the demo.
func setupNetns() error {
	for _, name := range []string{"net.ipv6.conf.all.disable_ipv6", "net.ipv6.conf.default.disable_ipv6"} {
		if err := writeSysctl(name, "1"); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err // a kernel without IPv6 has nothing to turn off
		}
	}
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("find lo: %w", err)
	}
	if err := netlink.LinkSetUp(lo); err != nil {
		return fmt.Errorf("set lo up: %w", err)
	}
	return nil
}

// linkPod creates the veth pair between the node and the pod, addresses both
// ends and gives the pod a default route via the node.
func (t *Topology) linkPod(ctx context.Context, pod *Pod, podNs netns.NsHandle, gw netip.Prefix, swCsum bool) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("create topology: %w", err)
	}
	node, err := netlink.NewHandleAt(t.handles[0], unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("open node netlink: %w", err)
	}
	defer node.Close()
	ph, err := netlink.NewHandleAt(podNs, unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("open pod netlink: %w", err)
	}
	defer ph.Close()

	veth := &netlink.Veth{
		LinkAttrs:     netlink.LinkAttrs{Name: pod.NodeIfName},
		PeerName:      pod.IfName,
		PeerNamespace: netlink.NsFd(podNs),
	}
	if err := node.LinkAdd(veth); err != nil {
		return fmt.Errorf("add veth %s: %w", pod.NodeIfName, err)
	}
	nodeLink, err := node.LinkByName(pod.NodeIfName)
	if err != nil {
		return fmt.Errorf("find %s: %w", pod.NodeIfName, err)
	}
	podLink, err := ph.LinkByName(pod.IfName)
	if err != nil {
		return fmt.Errorf("find %s in %s: %w", pod.IfName, pod.Name, err)
	}
	if err := node.AddrAdd(nodeLink, addr(gw)); err != nil {
		return fmt.Errorf("address %s: %w", pod.NodeIfName, err)
	}
	if err := ph.AddrAdd(podLink, addr(pod.Addr)); err != nil {
		return fmt.Errorf("address %s in %s: %w", pod.IfName, pod.Name, err)
	}
	if swCsum {
		err := doInNetns(t.handles[0], func() error { return setChecksumOffload(pod.NodeIfName, false) })
		if err == nil {
			err = doInNetns(podNs, func() error { return setChecksumOffload(pod.IfName, false) })
		}
		if err != nil {
			return err
		}
	}
	if err := node.LinkSetUp(nodeLink); err != nil {
		return fmt.Errorf("set %s up: %w", pod.NodeIfName, err)
	}
	if err := ph.LinkSetUp(podLink); err != nil {
		return fmt.Errorf("set %s up in %s: %w", pod.IfName, pod.Name, err)
	}
	route := &netlink.Route{
		LinkIndex: podLink.Attrs().Index,
		Gw:        net.IP(gw.Addr().AsSlice()),
	}
	if err := ph.RouteAdd(route); err != nil {
		return fmt.Errorf("add default route in %s: %w", pod.Name, err)
	}
	pod.Ifindex = podLink.Attrs().Index
	pod.NodeIfindex = nodeLink.Attrs().Index
	return nil
}

func addr(p netip.Prefix) *netlink.Addr {
	return &netlink.Addr{IPNet: &net.IPNet{
		IP:   net.IP(p.Addr().AsSlice()),
		Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen()),
	}}
}

// Close deletes the namespaces, and with them the veth pairs, routes and
// anything attached to their devices. It is safe to call more than once.
func (t *Topology) Close() error {
	if t == nil || t.closed {
		return nil
	}
	t.closed = true
	var errs []error
	for i := len(t.names) - 1; i >= 0; i-- {
		if t.handles[i] != netns.None() {
			t.handles[i].Close()
		}
		errs = append(errs, deleteNetns(t.names[i]))
	}
	t.handles, t.names = nil, nil
	os.RemoveAll(t.StateDir())
	t.owner.release()
	return errors.Join(errs...)
}
