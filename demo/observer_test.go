package demo

import (
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// observer is a stand-in for pktlife's tc observers: it counts packets and
// returns TC_ACT_UNSPEC (TCX_NEXT), so that the datapath behind it runs.
type observer struct {
	prog  *ebpf.Program
	count *ebpf.Map
}

func newObserver(t *testing.T) *observer {
	t.Helper()
	count, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.Array, KeySize: 4, ValueSize: 8, MaxEntries: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { count.Close() })
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name:    "test_observer",
		Type:    ebpf.SchedCLS,
		License: "GPL",
		Instructions: asm.Instructions{
			asm.StoreImm(asm.RFP, -4, 0, asm.Word),
			asm.Mov.Reg(asm.R2, asm.RFP),
			asm.Add.Imm(asm.R2, -4),
			asm.LoadMapPtr(asm.R1, count.FD()),
			asm.FnMapLookupElem.Call(),
			asm.JEq.Imm(asm.R0, 0, "out"),
			asm.Mov.Imm(asm.R1, 1),
			asm.StoreXAdd(asm.R0, asm.R1, asm.DWord),
			asm.Mov.Imm(asm.R0, -1).WithSymbol("out"),
			asm.Return(),
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { prog.Close() })
	return &observer{prog, count}
}

func (o *observer) packets(t *testing.T) uint64 {
	t.Helper()
	var n uint64
	if err := o.count.Lookup(uint32(0), &n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestObserverFirst attaches an observer ahead of the datapath, as the
// tracer does (tcx head, or a clsact filter at a lower priority number), and
// checks that both run, and that closing the datapath leaves the observer
// and its clsact qdisc in place.
func TestObserverFirst(t *testing.T) {
	requireRoot(t)
	for _, legacy := range []bool{false, true} {
		name := "tcx"
		if legacy {
			name = "legacy"
		}
		t.Run(name, func(t *testing.T) {
			ctx := testContext(t)
			topo := newTopology(t, Options{})
			dp := loadDatapath(t, topo, DatapathOptions{Legacy: legacy})
			obs := newObserver(t)
			ifindex := topo.PodA.NodeIfindex
			err := topo.Node.Do(func() error {
				if !legacy {
					l, err := link.AttachTCX(link.TCXOptions{Interface: ifindex, Program: obs.prog, Attach: ebpf.AttachTCXIngress, Anchor: link.Head()})
					if err == nil {
						t.Cleanup(func() { l.Close() })
					}
					return err
				}
				return netlink.FilterAdd(&netlink.BpfFilter{
					FilterAttrs: netlink.FilterAttrs{LinkIndex: ifindex, Parent: netlink.HANDLE_MIN_INGRESS,
						Handle: netlink.MakeHandle(0, 1), Priority: 1, Protocol: unix.ETH_P_ALL},
					Fd: obs.prog.FD(), Name: "test_observer", DirectAction: true,
				})
			})
			if err != nil {
				t.Fatalf("attach observer: %v", err)
			}
			srv, err := StartUDPEcho(ctx, topo.PodB.Path, topo.Backend())
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			if _, err := UDPRoundTrip(ctx, topo.PodA.Path, topo.Service, []byte("observed")); err != nil {
				t.Fatalf("round trip with an observer first: %v", err)
			}
			if obs.packets(t) == 0 {
				t.Error("the observer saw no packet")
			}

			if err := dp.Close(); err != nil {
				t.Fatalf("close datapath: %v", err)
			}
			if legacy {
				if !hasClsact(t, topo, ifindex) {
					t.Fatal("closing the datapath removed the clsact qdisc the observer uses")
				}
				var n int
				err := topo.Node.Do(func() error {
					l, err := netlink.LinkByIndex(ifindex)
					if err != nil {
						return err
					}
					fs, err := netlink.FilterList(l, netlink.HANDLE_MIN_INGRESS)
					n = len(fs)
					return err
				})
				if err != nil {
					t.Fatal(err)
				}
				if n != 1 {
					t.Errorf("%d filters left, want the observer's only", n)
				}
			}
			before := obs.packets(t)
			if err := SendUDP(ctx, topo.PodA.Path, topo.Service, []byte("after close")); err != nil {
				t.Fatal(err)
			}
			eventually(t, ctx, "observer still counts", func() (bool, error) {
				return obs.packets(t) > before, nil
			})
		})
	}
}
