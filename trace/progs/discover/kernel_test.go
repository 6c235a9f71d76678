package discover_test

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/pktlife/pktlife/trace/progs"
	"github.com/pktlife/pktlife/trace/progs/discover"
	"github.com/pktlife/pktlife/trace/progs/progstest"
)

func TestDiscover(t *testing.T) {
	ns := progstest.NewNetns(t, "progs")
	var tb *testbed
	t.Run("attached", func(t *testing.T) {
		tb = newTestbed(t, ns)
		if len(progstest.EntryName) <= 15 {
			t.Fatalf("program name %q: the test needs a name the kernel cuts", progstest.EntryName)
		}
		opts := discover.Options{Netns: ns.Path, SkipProgIDs: map[uint32]bool{tb.progIDs[observerName]: true}}
		got := mustGraph(t, opts)

		tcx0 := tb.device("tcx0", tb.tcx0)
		tcx0.Ingress = []progs.Entry{{Via: progs.ViaTCX, LinkID: tb.entryLink, Prog: tb.entryTree()}}
		tc0 := tb.device("tc0", tb.tc0)
		tc0.Ingress = []progs.Entry{
			{Via: progs.ViaTC, Prio: 1, Handle: 1, Prog: tb.loopTree()},
			{Via: progs.ViaTC, Prio: 2, Handle: 1, Prog: tb.node(progstest.EntryName, true)},
		}
		tc0.Egress = []progs.Entry{{Via: progs.ViaTC, Prio: 1, Handle: 7, Prog: tb.dynamicTree()}}
		want := &progs.Graph{Devices: []progs.DeviceProgs{tcx0, tc0}}
		withRevisions(t, want, got)
		assertGraph(t, got, want)

		if d, c := got.MaxDepth(); d != 3 || !c {
			t.Errorf("MaxDepth = %d, %v; want 3, true (entry→one→two→three; loop)", d, c)
		}
		for name, wantDepth := range map[string]struct {
			d int
			c bool
		}{
			progstest.EntryName: {3, false}, progstest.DynamicName: {2, false}, progstest.LoopName: {0, true},
		} {
			if d, c := got.ChainDepth(tb.progIDs[name]); d != wantDepth.d || c != wantDepth.c {
				t.Errorf("ChainDepth(%s) = %d, %v; want %d, %v", name, d, c, wantDepth.d, wantDepth.c)
			}
		}
		wantSlots := []progs.SlotRef{
			{MapID: tb.mapIDs["a"], MapName: progstest.CallsAName, Index: 0, ProgID: tb.progIDs[progstest.LevelOneName]},
			{MapID: tb.mapIDs["a"], MapName: progstest.CallsAName, Index: 1},
			{MapID: tb.mapIDs["a"], MapName: progstest.CallsAName, Index: 2, ProgID: tb.progIDs[progstest.SharedName]},
			{MapID: tb.mapIDs["b"], MapName: progstest.CallsBName, Index: 0, ProgID: tb.progIDs[progstest.LevelTwoName]},
			{MapID: tb.mapIDs["b"], MapName: progstest.CallsBName, Index: 1, ProgID: tb.progIDs[progstest.SharedName]},
			{MapID: tb.mapIDs["b"], MapName: progstest.CallsBName, Index: 2, ProgID: tb.progIDs[progstest.LevelThree]},
			{MapID: tb.mapIDs["c"], MapName: progstest.CallsCName, Index: 0, ProgID: tb.progIDs[progstest.LoopName]},
		}
		if s := got.ReachableSlots(); !reflect.DeepEqual(s, wantSlots) {
			t.Errorf("ReachableSlots =\n%+v\nwant\n%+v", s, wantSlots)
		}

		// The graph survives a JSON round trip unchanged.
		b, err := json.Marshal(got)
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		var back progs.Graph
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("unmarshal: %v", err)
		}
		assertGraph(t, &back, got)

		// Without SkipProgIDs the observer runs first at tcx0 ingress.
		all := mustGraph(t, discover.Options{Netns: ns.Path})
		if ing := all.Devices[0].Ingress; len(ing) != 2 || ing[0].Prog.ID != tb.progIDs[observerName] ||
			ing[0].Prog.Name != observerName[:15] || ing[1].Prog.ID != tb.progIDs[progstest.EntryName] {
			t.Errorf("tcx0 ingress without skip: %+v", ing)
		}

		// Selecting tc0 only: Entry is expanded there, after Loop.
		only := mustGraph(t, discover.Options{Netns: ns.Path, Ifaces: []string{"tc?"}})
		want = &progs.Graph{Devices: []progs.DeviceProgs{tc0}}
		want.Devices[0].Ingress = []progs.Entry{tc0.Ingress[0], {Via: progs.ViaTC, Prio: 2, Handle: 1, Prog: tb.entryTree()}}
		// Dynamic (egress) still follows Entry (ingress): its slots are references.
		want.Devices[0].Egress = []progs.Entry{{Via: progs.ViaTC, Prio: 1, Handle: 7, Prog: tb.dynamicTree()}}
		withRevisions(t, want, only)
		assertGraph(t, only, want)

		// Without Netns, Graph looks where the calling thread is.
		err = ns.Do(func() error {
			here, err := discover.Graph(context.Background(), discover.Options{Ifaces: []string{"tc0"}})
			if err != nil {
				return err
			}
			if len(here.Devices) != 1 || here.Devices[0].Ifindex != tb.tc0 || here.Devices[0].Netns != tb.inode {
				t.Errorf("discover from inside the netns: %+v", here.Devices)
			}
			return nil
		})
		if err != nil {
			t.Errorf("discover from inside the netns: %v", err)
		}
		host := mustGraph(t, discover.Options{Ifaces: []string{"tc0", "tcx0"}})
		for _, d := range host.Devices {
			if d.Netns == tb.inode {
				t.Errorf("discover from the host found the test netns's %s", d.Name)
			}
		}

		// IncludeEmpty keeps devices without programs.
		empty := mustGraph(t, discover.Options{Netns: ns.Path, Ifaces: []string{"peer*"}, IncludeEmpty: true})
		if len(empty.Devices) != 2 || empty.Devices[0].Name != "peer0" || empty.Devices[1].Name != "peer1" ||
			len(empty.Devices[0].Ingress)+len(empty.Devices[0].Egress) != 0 {
			t.Errorf("IncludeEmpty peer*: %+v", empty.Devices)
		}
	})
	if t.Failed() || tb == nil {
		return
	}

	// The subtest's cleanup detached everything. (The programs and maps
	// themselves are freed asynchronously, after an RCU grace period for
	// cls_bpf filters, so their IDs are not checked.)
	after := mustGraph(t, discover.Options{Netns: ns.Path, IncludeEmpty: true})
	if len(after.Devices) != 5 { // lo, tcx0, peer0, tc0, peer1
		t.Errorf("devices after cleanup: %d, want 5", len(after.Devices))
	}
	for _, d := range after.Devices {
		if len(d.Ingress)+len(d.Egress) != 0 {
			t.Errorf("%s: programs left after cleanup: %+v %+v", d.Name, d.Ingress, d.Egress)
		}
	}
}

func TestDiscoverErrors(t *testing.T) {
	if _, err := discover.Graph(context.Background(), discover.Options{Ifaces: []string{"["}}); err == nil {
		t.Error("a malformed glob was accepted")
	}
	if _, err := discover.Graph(context.Background(), discover.Options{Netns: "/nonexistent/netns"}); err == nil {
		t.Error("a missing netns path was accepted")
	}
}

func TestDiscoverCancelled(t *testing.T) {
	ns := progstest.NewNetns(t, "cancel")
	newTestbed(t, ns)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := discover.Graph(ctx, discover.Options{Netns: ns.Path}); err == nil {
		t.Error("discover with a cancelled context succeeded")
	}
}
