package discover_test

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/vishvananda/netlink"

	"github.com/pktlife/pktlife/trace/progs"
	"github.com/pktlife/pktlife/trace/progs/discover"
	"github.com/pktlife/pktlife/trace/progs/progstest"
)

// testbed is the test datapath attached in a namespace of its own:
// tcx0 ingress (tcx): observer, Entry; tc0 ingress (cls_bpf): Loop at prio 1,
// Entry again at prio 2; tc0 egress (cls_bpf): Dynamic. peer0 and peer1, the
// other veth ends, have nothing.
type testbed struct {
	ns        *progstest.Netns
	dp        *progstest.Datapath
	observer  *ebpf.Program
	tcx0, tc0 uint32
	inode     uint32
	entryLink uint32
	mapIDs    map[string]uint32
	progIDs   map[string]uint32
	progTags  map[string]string
}

func newTestbed(t *testing.T, ns *progstest.Netns) *testbed {
	t.Helper()
	dp, err := progstest.NewDatapath()
	if err != nil {
		t.Fatalf("load test datapath: %+v", err)
	}
	t.Cleanup(func() {
		if err := dp.Close(); err != nil {
			t.Errorf("close datapath: %v", err)
		}
	})
	observer, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name: observerName, Type: ebpf.SchedCLS, License: "GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, -1), asm.Return()}, // TCX_NEXT
	})
	if err != nil {
		t.Fatalf("load observer: %v", err)
	}
	t.Cleanup(func() { observer.Close() })

	tb := &testbed{ns: ns, dp: dp, observer: observer,
		mapIDs: map[string]uint32{}, progIDs: map[string]uint32{}, progTags: map[string]string{}}
	tb.tcx0, _ = ns.Veth(t, "tcx0", "peer0")
	tb.tc0, _ = ns.Veth(t, "tc0", "peer1")
	tb.inode = ns.Inode(t)

	ns.AttachTCX(t, tb.tcx0, observer, ebpf.AttachTCXIngress)
	l := ns.AttachTCX(t, tb.tcx0, dp.Entry, ebpf.AttachTCXIngress)
	li, err := l.Info()
	if err != nil {
		t.Fatalf("read link info: %v", err)
	}
	tb.entryLink = uint32(li.ID)
	ns.AttachClsact(t, tb.tc0, dp.Loop, netlink.HANDLE_MIN_INGRESS, 1, 1)
	ns.AttachClsact(t, tb.tc0, dp.Entry, netlink.HANDLE_MIN_INGRESS, 2, 1)
	ns.AttachClsact(t, tb.tc0, dp.Dynamic, netlink.HANDLE_MIN_EGRESS, 1, 7)

	for name, m := range map[string]*ebpf.Map{"a": dp.CallsA, "b": dp.CallsB, "c": dp.CallsC} {
		info, err := m.Info()
		if err != nil {
			t.Fatalf("map info: %v", err)
		}
		id, _ := info.ID()
		tb.mapIDs[name] = uint32(id)
	}
	for name, p := range map[string]*ebpf.Program{
		progstest.EntryName: dp.Entry, progstest.LevelOneName: dp.LevelOne, progstest.LevelTwoName: dp.LevelTwo,
		progstest.LevelThree: dp.LevelThreeProg, progstest.SharedName: dp.Shared,
		progstest.DynamicName: dp.Dynamic, progstest.LoopName: dp.Loop, observerName: observer,
	} {
		info, err := p.Info()
		if err != nil {
			t.Fatalf("program info: %v", err)
		}
		id, _ := info.ID()
		tb.progIDs[name] = uint32(id)
		tb.progTags[name] = info.Tag
	}
	return tb
}

// observerName is longer than the kernel keeps, and the observer has no
// BTF: Graph can only report the first 15 characters.
const observerName = "pl_observer_without_btf"

// node is the expected Node of a test program, without maps.
func (tb *testbed) node(name string, ref bool) progs.Node {
	return progs.Node{ID: tb.progIDs[name], Name: name, Tag: tb.progTags[name], Type: "SchedCLS", Ref: ref}
}

func (tb *testbed) slot(i uint32, p progs.Node) progs.Slot { return progs.Slot{Index: i, Prog: &p} }

func (tb *testbed) array(name, kernelName string, dynamic bool, slots ...progs.Slot) progs.ProgArray {
	return progs.ProgArray{ID: tb.mapIDs[name], Name: kernelName, MaxEntries: 4, Dynamic: dynamic, Slots: slots}
}

// entryTree is the Entry program fully expanded.
func (tb *testbed) entryTree() progs.Node {
	two := tb.node(progstest.LevelTwoName, false)
	two.Maps = []progs.ProgArray{
		tb.array("a", progstest.CallsAName, false, tb.slot(2, tb.node(progstest.SharedName, false))),
		tb.array("b", progstest.CallsBName, false, tb.slot(2, tb.node(progstest.LevelThree, false))),
	}
	one := tb.node(progstest.LevelOneName, false)
	one.Maps = []progs.ProgArray{tb.array("b", progstest.CallsBName, false,
		tb.slot(0, two), tb.slot(1, tb.node(progstest.SharedName, true)))}
	entry := tb.node(progstest.EntryName, false)
	entry.Maps = []progs.ProgArray{tb.array("a", progstest.CallsAName, false,
		tb.slot(0, one), progs.Slot{Index: 1, Empty: true})}
	return entry
}

func (tb *testbed) loopTree() progs.Node {
	loop := tb.node(progstest.LoopName, false)
	loop.Maps = []progs.ProgArray{tb.array("c", progstest.CallsCName, false, tb.slot(0, tb.node(progstest.LoopName, true)))}
	return loop
}

func (tb *testbed) dynamicTree() progs.Node {
	dyn := tb.node(progstest.DynamicName, false)
	dyn.Maps = []progs.ProgArray{tb.array("b", progstest.CallsBName, true,
		tb.slot(0, tb.node(progstest.LevelTwoName, true)),
		tb.slot(1, tb.node(progstest.SharedName, true)),
		tb.slot(2, tb.node(progstest.LevelThree, true)))}
	return dyn
}

func (tb *testbed) device(name string, ifindex uint32) progs.DeviceProgs {
	return progs.DeviceProgs{Netns: tb.inode, NetnsName: tb.ns.Name, Ifindex: ifindex, Name: name,
		Ingress: []progs.Entry{}, Egress: []progs.Entry{}}
}

func mustGraph(t *testing.T, opts discover.Options) *progs.Graph {
	t.Helper()
	g, err := discover.Graph(context.Background(), opts)
	if err != nil {
		t.Fatalf("discover: %v", err)
	}
	return g
}

// assertGraph compares graphs as JSON, which shows where they differ.
func assertGraph(t *testing.T, got, want *progs.Graph) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		g, _ := json.MarshalIndent(got, "", "  ")
		w, _ := json.MarshalIndent(want, "", "  ")
		t.Fatalf("graph differs\ngot:\n%s\nwant:\n%s", g, w)
	}
}

// withRevisions copies tcx revisions from got after checking them, as their
// values are the kernel's to choose.
func withRevisions(t *testing.T, want, got *progs.Graph) {
	t.Helper()
	for i := range want.Devices {
		if i >= len(got.Devices) {
			return
		}
		d := &got.Devices[i]
		hasTCX := len(d.Ingress) > 0 && d.Ingress[0].Via == progs.ViaTCX
		if hasTCX && d.IngressRevision == 0 {
			t.Errorf("%s: tcx ingress revision is zero", d.Name)
		}
		want.Devices[i].IngressRevision = d.IngressRevision
		want.Devices[i].EgressRevision = d.EgressRevision
	}
}
