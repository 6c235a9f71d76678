package demo

import (
	"bytes"
	"context"
	"net/netip"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"

	"github.com/pktlife/pktlife/bpf/demodp"
)

var modes = []struct {
	name string
	opts DatapathOptions
	topo Options
}{
	{"tcx", DatapathOptions{}, Options{}},
	{"legacy", DatapathOptions{Legacy: true}, Options{}},
	// Checksums verified end to end: the NAT's fixups must be right.
	{"tcx-swcsum", DatapathOptions{}, Options{SoftwareChecksums: true}},
	{"legacy-swcsum", DatapathOptions{Legacy: true}, Options{SoftwareChecksums: true}},
}

func loadDatapath(t *testing.T, topo *Topology, opts DatapathOptions) *Datapath {
	t.Helper()
	dp, err := LoadDatapath(topo, opts)
	if err != nil {
		t.Fatalf("load datapath: %v", err)
	}
	t.Cleanup(func() {
		if err := dp.Close(); err != nil {
			t.Errorf("close datapath: %v", err)
		}
	})
	return dp
}

func counter(t *testing.T, dp *Datapath, s demodp.DemoStat) uint64 {
	t.Helper()
	v, err := dp.Counter(s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestDatapath(t *testing.T) {
	requireRoot(t)
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			ctx := testContext(t)
			topo := newTopology(t, m.topo)
			dp := loadDatapath(t, topo, m.opts)
			udp, err := StartUDPEcho(ctx, topo.PodB.Path, topo.Backend())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { udp.Close() })
			tcp, err := StartTCPEcho(ctx, topo.PodB.Path, topo.Backend())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { tcp.Close() })

			t.Run("udp-to-vip", func(t *testing.T) {
				if err := SendUDP(ctx, topo.PodA.Path, topo.Service, []byte("hello vip")); err != nil {
					t.Fatal(err)
				}
				d := receive(t, ctx, udp)
				if string(d.Payload) != "hello vip" {
					t.Errorf("payload %q, want %q", d.Payload, "hello vip")
				}
				if d.From.Addr() != topo.PodA.IP() {
					t.Errorf("datagram from %s, want pod A %s", d.From, topo.PodA.IP())
				}
				if n := counter(t, dp, demodp.DemoStatDEMO_STAT_DNAT); n == 0 {
					t.Error("DNAT counter is 0")
				}
				if n := counter(t, dp, demodp.DemoStatDEMO_STAT_REDIRECT_B); n == 0 {
					t.Error("redirect-to-pod-B counter is 0")
				}
			})

			t.Run("udp-round-trip", func(t *testing.T) {
				// A connected socket only takes the reply if reverse NAT
				// gave it the VIP as source.
				reply, err := UDPRoundTrip(ctx, topo.PodA.Path, topo.Service, []byte("ping"))
				if err != nil {
					t.Fatal(err)
				}
				if string(reply) != "ping" {
					t.Errorf("reply %q, want %q", reply, "ping")
				}
				receive(t, ctx, udp)
				if n := counter(t, dp, demodp.DemoStatDEMO_STAT_REV_NAT); n == 0 {
					t.Error("reverse NAT counter is 0")
				}
			})

			t.Run("tcp-round-trip", func(t *testing.T) {
				payload := bytes.Repeat([]byte("pktlife "), 512)
				reply, err := TCPRoundTrip(ctx, topo.PodA.Path, topo.Service, payload)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(reply, payload) {
					t.Errorf("reply of %d bytes differs from the %d sent", len(reply), len(payload))
				}
				select {
				case from := <-tcp.Accepted():
					if from.Addr() != topo.PodA.IP() {
						t.Errorf("connection from %s, want pod A %s", from, topo.PodA.IP())
					}
				default:
					t.Error("the server accepted no connection")
				}
			})

			t.Run("deny-port", func(t *testing.T) {
				testDeny(t, ctx, topo, dp, udp)
			})

			t.Run("empty-slot", func(t *testing.T) {
				testEmptySlot(t, ctx, topo, dp)
			})
		})
	}
}

// testDeny sends to the deny port, then to the service on the same path:
// once the second arrives, the drop counter must show the first.
func testDeny(t *testing.T, ctx context.Context, topo *Topology, dp *Datapath, allowed *UDPServer) {
	denied, err := StartUDPEcho(ctx, topo.PodB.Path, netip.AddrPortFrom(topo.PodB.IP(), DenyPort))
	if err != nil {
		t.Fatal(err)
	}
	defer denied.Close()
	drops := counter(t, dp, demodp.DemoStatDEMO_STAT_POLICY_DROP)

	if err := SendUDP(ctx, topo.PodA.Path, denied.Addr, []byte("denied")); err != nil {
		t.Fatal(err)
	}
	if err := SendUDP(ctx, topo.PodA.Path, topo.Service, []byte("after")); err != nil {
		t.Fatal(err)
	}
	if d := receive(t, ctx, allowed); string(d.Payload) != "after" {
		t.Fatalf("payload %q, want %q", d.Payload, "after")
	}
	eventually(t, ctx, "policy drop counted", func() (bool, error) {
		n, err := dp.Counter(demodp.DemoStatDEMO_STAT_POLICY_DROP)
		return n == drops+1, err
	})
	select {
	case d := <-denied.Received():
		t.Errorf("datagram %q reached the deny port", d.Payload)
	default:
	}
}

// testEmptySlot empties demo_calls[SlotPolicy]: demo_nat's tail call misses,
// the packet goes back to the stack, which routes it to the deny port.
func testEmptySlot(t *testing.T, ctx context.Context, topo *Topology, dp *Datapath) {
	denied, err := StartUDPEcho(ctx, topo.PodB.Path, netip.AddrPortFrom(topo.PodB.IP(), DenyPort))
	if err != nil {
		t.Fatal(err)
	}
	defer denied.Close()
	misses := counter(t, dp, demodp.DemoStatDEMO_STAT_TAIL_MISS)
	if err := dp.Objects.DemoCalls.Delete(SlotPolicy); err != nil {
		t.Fatalf("empty policy slot: %v", err)
	}
	if err := SendUDP(ctx, topo.PodA.Path, denied.Addr, []byte("no policy")); err != nil {
		t.Fatal(err)
	}
	if d := receive(t, ctx, denied); string(d.Payload) != "no policy" {
		t.Errorf("payload %q, want %q", d.Payload, "no policy")
	}
	if n := counter(t, dp, demodp.DemoStatDEMO_STAT_TAIL_MISS); n <= misses {
		t.Errorf("tail-call misses %d, want more than %d", n, misses)
	}
	if err := dp.FillCalls(); err != nil {
		t.Fatal(err)
	}
	var id uint32
	if err := dp.Objects.DemoCalls.Lookup(SlotPolicy, &id); err != nil {
		t.Fatalf("look up restored slot: %v", err)
	}
	info, err := dp.Objects.DemoPolicy.Info()
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := info.ID(); ebpf.ProgramID(id) != want {
		t.Errorf("slot %d holds program %d, want demo_policy %d", SlotPolicy, id, want)
	}
}

// TestDatapathAttach checks where the programs sit and that Close removes
// them, the clsact qdisc included.
func TestDatapathAttach(t *testing.T) {
	requireRoot(t)
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			topo := newTopology(t, m.topo)
			dp, err := LoadDatapath(topo, m.opts)
			if err != nil {
				t.Fatal(err)
			}
			defer dp.Close()
			want := map[int]string{topo.PodA.NodeIfindex: "demo_from_pod", topo.PodB.NodeIfindex: "demo_from_backend"}
			for ifindex, name := range want {
				got := attachedIngress(t, topo, ifindex, m.opts.Legacy)
				if len(got) != 1 || got[0] != name {
					t.Errorf("ifindex %d: programs %v, want [%s]", ifindex, got, name)
				}
			}
			if err := dp.Close(); err != nil {
				t.Fatalf("close: %v", err)
			}
			if err := dp.Close(); err != nil {
				t.Errorf("second close: %v", err)
			}
			for ifindex := range want {
				if got := attachedIngress(t, topo, ifindex, m.opts.Legacy); len(got) != 0 {
					t.Errorf("ifindex %d after close: programs %v", ifindex, got)
				}
				if m.opts.Legacy && hasClsact(t, topo, ifindex) {
					t.Errorf("ifindex %d after close: clsact qdisc left", ifindex)
				}
			}
		})
	}
}

// attachedIngress lists the names of the programs at ingress of a node
// device, by tcx query or by the cls_bpf filters at DefaultPriority.
func attachedIngress(t *testing.T, topo *Topology, ifindex int, legacy bool) []string {
	t.Helper()
	var names []string
	err := topo.Node.Do(func() error {
		if !legacy {
			res, err := link.QueryPrograms(link.QueryOptions{Target: ifindex, Attach: ebpf.AttachTCXIngress})
			if err != nil {
				return err
			}
			for _, p := range res.Programs {
				prog, err := ebpf.NewProgramFromID(p.ID)
				if err != nil {
					return err
				}
				info, err := prog.Info()
				prog.Close()
				if err != nil {
					return err
				}
				names = append(names, info.Name)
			}
			return nil
		}
		l, err := netlink.LinkByIndex(ifindex)
		if err != nil {
			return err
		}
		fs, err := netlink.FilterList(l, netlink.HANDLE_MIN_INGRESS)
		if err != nil {
			return err
		}
		for _, f := range fs {
			if bf, ok := f.(*netlink.BpfFilter); ok && bf.Priority == DefaultPriority {
				names = append(names, bf.Name)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("list programs on ifindex %d: %v", ifindex, err)
	}
	return names
}

func hasClsact(t *testing.T, topo *Topology, ifindex int) bool {
	t.Helper()
	found := false
	err := topo.Node.Do(func() error {
		l, err := netlink.LinkByIndex(ifindex)
		if err != nil {
			return err
		}
		qs, err := netlink.QdiscList(l)
		for _, q := range qs {
			if q.Type() == "clsact" {
				found = true
			}
		}
		return err
	})
	if err != nil {
		t.Fatalf("list qdiscs: %v", err)
	}
	return found
}
