package trace_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pktlife/pktlife/demo"
	"github.com/pktlife/pktlife/internal/ciliumbed"
	"github.com/pktlife/pktlife/internal/netnstest"
	"github.com/pktlife/pktlife/render"
	"github.com/pktlife/pktlife/trace/progs/discover"
)

// ciliumEnv is Cilium's bpf_lxc, compiled from Cilium's own sources, on
// pod A's lxc device (the node's end of its veth pair), with a service
// whose backend is pod B and a policy that lets pod A send only to the
// backend's port.
type ciliumEnv struct {
	version string
	topo    *demo.Topology
	bed     *ciliumbed.Bed
	backend *demo.UDPServer // pod B, behind the service
	denied  *demo.UDPServer // pod B, on a port the policy denies
}

const (
	ciliumEndpointID = 42
	ciliumIdentity   = 12345 // pod A's security identity
)

func newCiliumEnv(t *testing.T, version string) *ciliumEnv {
	t.Helper()
	netnstest.RequireRoot(t)
	start := time.Now()
	obj, compiled, err := ciliumbed.Compile(version, ciliumbed.LXC)
	if errors.Is(err, ciliumbed.ErrDownload) {
		t.Skipf("cilium %s: %v", version, err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("cilium %s bpf_lxc: %s (compiled now: %v, %s)", version, obj, compiled, time.Since(start).Round(time.Millisecond))
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	topo, err := demo.NewTopology(ctx, demo.Options{Prefix: "pl-cil"})
	if err != nil {
		t.Fatalf("build topology: %v", err)
	}
	t.Cleanup(func() {
		if err := topo.Close(); err != nil {
			t.Errorf("close topology: %v", err)
		}
	})
	e := &ciliumEnv{version: version, topo: topo}
	e.bed, err = ciliumbed.Load(obj, ciliumbed.Options{
		NetnsPath:  topo.Node.Path,
		Ifindex:    topo.PodA.NodeIfindex,
		Legacy:     ciliumLegacy(t, version),
		EndpointIP: topo.PodA.IP(),
		EndpointID: ciliumEndpointID,
		Identity:   ciliumIdentity,
		DeviceMAC:  nodeMAC(t, topo),
		PinDir:     bpffs(t),
	})
	if err != nil {
		t.Fatalf("load cilium %s: %v", version, err)
	}
	t.Cleanup(func() {
		if err := e.bed.Close(); err != nil {
			t.Errorf("close cilium bed: %v", err)
		}
	})
	if err := e.bed.AddService(1, topo.Service, topo.Backend()); err != nil {
		t.Fatal(err)
	}
	if err := e.bed.AllowEgress(17, demo.BackendPort); err != nil {
		t.Fatal(err)
	}
	e.backend, err = demo.StartUDPEcho(ctx, topo.PodB.Path, topo.Backend())
	if err != nil {
		t.Fatalf("start backend: %v", err)
	}
	t.Cleanup(func() { e.backend.Close() })
	e.denied, err = demo.StartUDPEcho(ctx, topo.PodB.Path, netip.AddrPortFrom(topo.PodB.IP(), demo.DenyPort))
	if err != nil {
		t.Fatalf("start denied server: %v", err)
	}
	t.Cleanup(func() { e.denied.Close() })
	return e
}

// received waits up to wait for a datagram at s.
func received(s *demo.UDPServer, wait time.Duration) (demo.Datagram, bool) {
	select {
	case d := <-s.Received():
		return d, true
	case <-time.After(wait):
		return demo.Datagram{}, false
	}
}

func (e *ciliumEnv) client(port uint16) netip.AddrPort {
	return netip.AddrPortFrom(e.topo.PodA.IP(), port)
}

// TestCiliumDatapath: Cilium's datapath does what Cilium does: the
// service's packet reaches the backend translated, the denied one does
// not arrive.
func TestCiliumDatapath(t *testing.T) {
	for _, v := range []string{ciliumbed.V114, ciliumbed.V118} {
		t.Run(v, func(t *testing.T) {
			e := newCiliumEnv(t, v)
			for _, tc := range e.bed.TailCalls {
				t.Logf("filled %s/%d: %s", tc.Map, tc.Slot, tc.Prog)
			}
			udpFrom(t, e.topo.PodA.Path, e.client(40001), e.topo.Service, []byte("to service"), false)
			d, ok := received(e.backend, 3*time.Second)
			if !ok {
				t.Fatalf("backend received nothing sent to the service")
			}
			if d.From != e.client(40001) {
				t.Errorf("backend got a datagram from %s, want %s", d.From, e.client(40001))
			}
			udpFrom(t, e.topo.PodA.Path, e.client(40002), netip.AddrPortFrom(e.topo.PodB.IP(), demo.DenyPort), []byte("denied"), false)
			if d, ok := received(e.denied, 500*time.Millisecond); ok {
				t.Errorf("a packet the policy denies arrived: %+v", d)
			}
		})
	}
}

// nodeMAC is the MAC of pod A's lxc device.
func nodeMAC(t *testing.T, topo *demo.Topology) [6]byte {
	t.Helper()
	var mac [6]byte
	err := topo.Node.Do(func() error {
		ifc, err := net.InterfaceByIndex(topo.PodA.NodeIfindex)
		if err != nil {
			return err
		}
		copy(mac[:], ifc.HardwareAddr)
		return nil
	})
	if err != nil {
		t.Fatalf("read lxc MAC: %v", err)
	}
	return mac
}

// TestCiliumProgs: `pktlife progs` on Cilium's datapath draws its graph
// from cil_from_container and lists every other filled slot as unreached.
func TestCiliumProgs(t *testing.T) {
	for _, v := range []string{ciliumbed.V114, ciliumbed.V118} {
		t.Run(v, func(t *testing.T) {
			e := newCiliumEnv(t, v)
			g, err := discover.Graph(context.Background(), discover.Options{Netns: e.topo.Node.Path})
			if err != nil {
				t.Fatalf("discover: %v", err)
			}
			var b strings.Builder
			if err := render.WriteProgsTree(&b, g, render.Options{Width: 120}); err != nil {
				t.Fatal(err)
			}
			t.Logf("pktlife progs:\n%s", b.String())
			reached := map[string]bool{}
			for _, n := range g.Programs() {
				reached[n.Name] = true
			}
			unreached := map[string]bool{}
			filled := map[string]bool{}
			for _, tc := range e.bed.TailCalls {
				filled[tc.Map] = true
			}
			for _, u := range g.Unreached {
				unreached[u.Prog.Name] = true
				if !filled[u.Map] {
					t.Errorf("unreached slot in map %q: want one of the bed's full map names %v", u.Map, filled)
				}
			}
			if !reached["cil_from_container"] || !reached["tail_handle_ipv4_cont"] {
				t.Errorf("graph does not reach cil_from_container's chain: %v", reached)
			}
			// The endpoint's ingress side (to-container) is filled by the
			// agent but nothing attached here reaches it.
			for _, p := range []string{"tail_ipv4_ct_ingress", "tail_ipv4_to_endpoint"} {
				if !unreached[p] || reached[p] {
					t.Errorf("%s: reached %v, listed unreached %v; want unreached", p, reached[p], unreached[p])
				}
			}
			for _, tc := range e.bed.TailCalls {
				if tc.Map == "cilium_egresscall_policy" {
					continue // no reached program uses this map: pktlife never reads it
				}
				if reached[tc.Prog] == unreached[tc.Prog] {
					t.Errorf("filled slot %s/%d (%s): reached %v, unreached %v", tc.Map, tc.Slot, tc.Prog, reached[tc.Prog], unreached[tc.Prog])
				}
			}
		})
	}
}

// bpffs mounts a bpffs of the test's own, where the bed pins its maps as
// the agent pins Cilium's; unmounted at cleanup.
func bpffs(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "bpffs")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("bpffs", dir, "bpf", 0, ""); err != nil {
		t.Fatalf("mount bpffs: %v", err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
			t.Errorf("unmount bpffs: %v", err)
		}
	})
	return dir
}

// ciliumLegacy says whether the agent would attach with clsact + cls_bpf:
// always for 1.14, and for current releases on kernels without tcx
// (before 6.6, e.g. Debian's 6.1 in the VM).
func ciliumLegacy(t *testing.T, version string) bool {
	t.Helper()
	if version == ciliumbed.V114 {
		return true
	}
	v, err := netnstest.KernelVersion()
	if err != nil {
		t.Fatal(err)
	}
	return v.Less(netnstest.Version{6, 6, 0})
}
