package discover_test

import (
	"errors"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/vishvananda/netlink"

	"github.com/pktlife/pktlife/bpf/demodp"
	"github.com/pktlife/pktlife/trace/progs"
	"github.com/pktlife/pktlife/trace/progs/discover"
	"github.com/pktlife/pktlife/trace/progs/progstest"
)

// cNode is the expected node of a clang-built program.
func cNode(t *testing.T, p *ebpf.Program, name string, ref bool, maps ...progs.ProgArray) progs.Node {
	t.Helper()
	info, err := p.Info()
	if err != nil {
		t.Fatalf("program info: %v", err)
	}
	id, _ := info.ID()
	return progs.Node{ID: uint32(id), Name: name, Tag: info.Tag, Type: "SchedCLS", Ref: ref, Maps: maps}
}

func cArray(t *testing.T, m *ebpf.Map, name string, slots ...progs.Slot) progs.ProgArray {
	t.Helper()
	info, err := m.Info()
	if err != nil {
		t.Fatalf("map info: %v", err)
	}
	id, _ := info.ID()
	return progs.ProgArray{ID: uint32(id), Name: name, MaxEntries: info.MaxEntries, Slots: slots}
}

func fill(t *testing.T, m *ebpf.Map, slots map[uint32]*ebpf.Program) {
	t.Helper()
	for slot, p := range slots {
		if err := m.Put(slot, p); err != nil {
			t.Fatalf("fill slot %d: %v", slot, err)
		}
	}
}

func loadErr(t *testing.T, what string, err error) {
	t.Helper()
	var ve *ebpf.VerifierError
	if errors.As(err, &ve) {
		t.Fatalf("load %s: %+v", what, ve)
	}
	t.Fatalf("load %s: %v", what, err)
}

// TestDiscoverClangDatapaths runs discovery on the C datapaths of
// bpf/demodp, whose tail calls clang compiled (with switch statements and
// branches), and whose names come from BTF.
func TestDiscoverClangDatapaths(t *testing.T) {
	ns := progstest.NewNetns(t, "demodp")
	chainDev, _ := ns.Veth(t, "chain0", "chain1")
	demoDev, _ := ns.Veth(t, "demo0", "demo1")

	var chain demodp.ChainObjects
	if err := demodp.LoadChainObjects(&chain, nil); err != nil {
		loadErr(t, "chain", err)
	}
	t.Cleanup(func() { chain.Close() })
	fill(t, chain.ChainJmpA, map[uint32]*ebpf.Program{
		uint32(demodp.ChainJumpSlotCHAIN_A_INSPECT): chain.ChainStageOneInspect,
		uint32(demodp.ChainJumpSlotCHAIN_A_ALT):     chain.ChainAltRewriter,
		uint32(demodp.ChainJumpSlotCHAIN_A_FINAL):   chain.ChainStageTwoFinalize,
	})
	fill(t, chain.ChainJmpB, map[uint32]*ebpf.Program{
		uint32(demodp.ChainJumpSlotCHAIN_B_FINAL): chain.ChainStageTwoFinalize,
	})

	spec, err := demodp.LoadDemo()
	if err != nil {
		t.Fatalf("load demo spec: %v", err)
	}
	cfg := demodp.DemoSvcConfig{SvcPort: 80, BackendPort: 8080, DenyPort: 9999, ClientIfindex: 1, BackendIfindex: 1}
	if err := spec.Variables["cfg"].Set(cfg); err != nil {
		t.Fatalf("set cfg: %v", err)
	}
	var demo demodp.DemoObjects
	if err := spec.LoadAndAssign(&demo, nil); err != nil {
		loadErr(t, "demo", err)
	}
	t.Cleanup(func() { demo.Close() })
	fill(t, demo.DemoCalls, map[uint32]*ebpf.Program{
		uint32(demodp.DemoSlotDEMO_SLOT_NAT):     demo.DemoNat,
		uint32(demodp.DemoSlotDEMO_SLOT_POLICY):  demo.DemoPolicy,
		uint32(demodp.DemoSlotDEMO_SLOT_REV_NAT): demo.DemoRevNat,
	})

	ns.AttachTCX(t, chainDev, chain.ChainEntryClassifier, ebpf.AttachTCXIngress)
	ns.AttachClsact(t, demoDev, demo.DemoFromPod, netlink.HANDLE_MIN_INGRESS, 1, 1)
	ns.AttachClsact(t, demoDev, demo.DemoFromBackend, netlink.HANDLE_MIN_EGRESS, 1, 1)

	got := mustGraph(t, discover.Options{Netns: ns.Path, Ifaces: []string{"chain0", "demo0"}})

	const final = "chain_stage_two_finalize"
	a, b := chain.ChainJmpA, chain.ChainJmpB
	entry := cNode(t, chain.ChainEntryClassifier, "chain_entry_classifier", false, cArray(t, a, "chain_jmp_a",
		progs.Slot{Index: 0, Prog: ptr(cNode(t, chain.ChainStageOneInspect, "chain_stage_one_inspect", false,
			cArray(t, b, "chain_jmp_b",
				progs.Slot{Index: 0, Prog: ptr(cNode(t, chain.ChainStageTwoFinalize, final, false))},
				progs.Slot{Index: 1, Empty: true})))},
		progs.Slot{Index: 1, Prog: ptr(cNode(t, chain.ChainAltRewriter, "chain_alt_rewriter", false,
			cArray(t, b, "chain_jmp_b", progs.Slot{Index: 0, Prog: ptr(cNode(t, chain.ChainStageTwoFinalize, final, true))})))},
		progs.Slot{Index: 2, Prog: ptr(cNode(t, chain.ChainStageTwoFinalize, final, true))},
		progs.Slot{Index: 3, Empty: true},
	))
	fromPod := cNode(t, demo.DemoFromPod, "demo_from_pod", false, cArray(t, demo.DemoCalls, "demo_calls",
		progs.Slot{Index: 0, Prog: ptr(cNode(t, demo.DemoNat, "demo_nat", false, cArray(t, demo.DemoCalls, "demo_calls",
			progs.Slot{Index: 1, Prog: ptr(cNode(t, demo.DemoPolicy, "demo_policy", false))})))}))
	fromBackend := cNode(t, demo.DemoFromBackend, "demo_from_backend", false, cArray(t, demo.DemoCalls, "demo_calls",
		progs.Slot{Index: 2, Prog: ptr(cNode(t, demo.DemoRevNat, "demo_rev_nat", false))}))

	inode := ns.Inode(t)
	want := &progs.Graph{Devices: []progs.DeviceProgs{
		{Netns: inode, NetnsName: ns.Name, Ifindex: chainDev, Name: "chain0",
			Ingress: []progs.Entry{{Via: progs.ViaTCX, LinkID: linkID(t, got), Prog: entry}}, Egress: []progs.Entry{}},
		{Netns: inode, NetnsName: ns.Name, Ifindex: demoDev, Name: "demo0",
			Ingress: []progs.Entry{{Via: progs.ViaTC, Prio: 1, Handle: 1, Prog: fromPod}},
			Egress:  []progs.Entry{{Via: progs.ViaTC, Prio: 1, Handle: 1, Prog: fromBackend}}},
	}}
	withRevisions(t, want, got)
	assertGraph(t, got, want)
	if d, c := got.MaxDepth(); d != 2 || c {
		t.Errorf("MaxDepth = %d, %v; want 2, false", d, c)
	}
}

func ptr(n progs.Node) *progs.Node { return &n }

// linkID is the tcx link ID Graph reported, checked non-zero.
func linkID(t *testing.T, g *progs.Graph) uint32 {
	t.Helper()
	if len(g.Devices) == 0 || len(g.Devices[0].Ingress) == 0 || g.Devices[0].Ingress[0].LinkID == 0 {
		t.Fatalf("no tcx link ID in %+v", g.Devices)
	}
	return g.Devices[0].Ingress[0].LinkID
}
