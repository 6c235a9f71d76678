//go:build e2e

package e2e

import (
	"net/netip"
	"path/filepath"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/pktlife/pktlife/bpf/demodp"
)

// TestTailCallsInterpose attaches a tc program with a tail-call chain (the
// demo datapath's demo_from_pod → demo_nat → demo_policy, configured to
// pass everything) at ingress of the client's node-side veth, and traces
// with --tail-calls=interpose: journeys show the chain per packet, and the
// prog_array holds its own programs again afterwards.
func TestTailCallsInterpose(t *testing.T) {
	clientIP, err := c.kubectl(nil, "get", "pod", "client", "-o", "jsonpath={.status.podIP}")
	if err != nil {
		t.Fatal(err)
	}
	veth := hostVeth(t, netip.MustParseAddr(clientIP))

	var objs demodp.DemoObjects
	if err := demodp.LoadDemoObjects(&objs, nil); err != nil {
		t.Fatalf("load demo datapath: %+v", err)
	}
	t.Cleanup(func() { objs.Close() })
	slots := map[uint32]*ebpf.Program{
		uint32(demodp.DemoSlotDEMO_SLOT_NAT):    objs.DemoNat,
		uint32(demodp.DemoSlotDEMO_SLOT_POLICY): objs.DemoPolicy,
	}
	want := map[uint32]uint32{}
	for slot, p := range slots {
		if err := objs.DemoCalls.Put(slot, p); err != nil {
			t.Fatalf("fill slot %d: %v", slot, err)
		}
		info, err := p.Info()
		if err != nil {
			t.Fatal(err)
		}
		id, _ := info.ID()
		want[slot] = uint32(id)
	}
	l, err := link.AttachTCX(link.TCXOptions{Interface: veth, Program: objs.DemoFromPod, Attach: ebpf.AttachTCXIngress})
	if err != nil {
		t.Fatalf("attach demo_from_pod to ifindex %d: %v", veth, err)
	}
	t.Cleanup(func() { l.Close() })

	r := pktlife(t, c.webIP+":8080", nil, traceArgs("client", "--to", "pod/web:8080", "--count", "3",
		"--tail-calls=interpose", "-o", "json")...)
	if r.err != nil {
		t.Fatalf("trace: %v", r.err)
	}
	chains := 0
	for _, j := range journeys(t, r.stdout) {
		for _, h := range j.Hops {
			if h.Hook != "tc-ingress" || len(h.TailCalls) == 0 {
				continue
			}
			var names []string
			for _, tc := range h.TailCalls {
				if tc.Map != "demo_calls" {
					t.Errorf("tail call through map %q, want demo_calls", tc.Map)
				}
				names = append(names, tc.Prog.Name)
			}
			if len(names) != 2 || names[0] != "demo_nat" || names[1] != "demo_policy" {
				t.Errorf("chain %v, want [demo_nat demo_policy]", names)
			}
			chains++
		}
	}
	if chains == 0 {
		t.Errorf("no journey shows the tail-call chain:\n%s", r.stdout)
	}
	for slot, id := range want {
		var got uint32
		if err := objs.DemoCalls.Lookup(slot, &got); err != nil || got != id {
			t.Errorf("slot %d holds program %d (%v) after the trace, want %d", slot, got, err, id)
		}
	}
	nodePodsGone(t)
}

// hostVeth finds the node-side veth of the pod whose network namespace
// holds addr: the peer of that namespace's eth0.
func hostVeth(t *testing.T, addr netip.Addr) int {
	t.Helper()
	paths, _ := filepath.Glob("/run/netns/cni-*")
	for _, p := range paths {
		ns, err := netns.GetFromPath(p)
		if err != nil {
			continue
		}
		h, err := netlink.NewHandleAt(ns)
		ns.Close()
		if err != nil {
			continue
		}
		addrs, _ := h.AddrList(nil, netlink.FAMILY_V4)
		for _, a := range addrs {
			if ip, ok := netip.AddrFromSlice(a.IP); ok && ip.Unmap() == addr {
				eth, err := h.LinkByName("eth0")
				h.Close()
				if err != nil {
					t.Fatalf("eth0 in %s: %v", p, err)
				}
				return eth.Attrs().ParentIndex
			}
		}
		h.Close()
	}
	t.Fatalf("no pod network namespace holds %s (%d in /run/netns)", addr, len(paths))
	return 0
}
