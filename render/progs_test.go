package render

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/pktlife/pktlife/trace/progs"
)

const progsGoldenDir = "../testdata/progs"

// progsGolden is golden() for testdata/progs (-update rewrites the files).
func progsGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	goldenIn(t, progsGoldenDir, name, got)
}

func prog(id uint32, name string, maps ...progs.ProgArray) *progs.Node {
	return &progs.Node{ID: id, Name: name, Tag: "a1b2c3d4e5f60718", Type: "SchedCLS", Maps: maps}
}

func ref(id uint32, name string) *progs.Node {
	return &progs.Node{ID: id, Name: name, Tag: "a1b2c3d4e5f60718", Type: "SchedCLS", Ref: true}
}

func parray(id uint32, name string, dynamic bool, slots ...progs.Slot) progs.ProgArray {
	return progs.ProgArray{ID: id, Name: name, MaxEntries: 64, Dynamic: dynamic, Slots: slots}
}

func at(i uint32, n *progs.Node) progs.Slot { return progs.Slot{Index: i, Prog: n} }

func empty(i uint32) progs.Slot { return progs.Slot{Index: i, Empty: true} }

// ciliumLikeGraph is shaped like a Cilium endpoint's datapath (names only):
// tcx on an lxc device, a constant-slot chain, a dynamically indexed policy
// map, a self-loop, a program that went away, and legacy tc on eth0.
func ciliumLikeGraph() *progs.Graph {
	const calls, policy = "cilium_calls_00412", "cilium_call_policy"
	ctEgress := prog(303, "tail_ipv4_ct_egress",
		parray(40, calls, false,
			at(6, prog(304, "tail_handle_ipv4_cont",
				parray(41, policy, true, at(412, prog(305, "cil_lxc_policy")), at(1208, prog(306, "cil_lxc_policy"))),
				parray(40, calls, false, empty(7)),
			))))
	fromContainer := prog(301, "cil_from_container",
		parray(40, calls, false, empty(0), at(1, prog(302, "tail_handle_ipv4", parray(40, calls, false, at(5, ctEgress))))))
	toContainer := prog(310, "cil_to_container",
		parray(40, calls, false, at(9, prog(311, "tail_ipv4_to_endpoint",
			parray(40, calls, false, at(5, ref(303, "tail_ipv4_ct_egress")), at(12, prog(312, "tail_loop_over_tuples",
				parray(40, calls, false, at(12, ref(312, "tail_loop_over_tuples"))))))))))
	fromNetdev := prog(320, "cil_from_netdev",
		parray(50, "cilium_calls_netdev_00002", false, at(3, &progs.Node{ID: 322, Error: "open program 322: no such file or directory"})))
	return &progs.Graph{Devices: []progs.DeviceProgs{
		{
			Netns: 4026531840, NetnsName: "host", Ifindex: 12, Name: "lxc1a2b3c4d",
			Ingress:         []progs.Entry{{Via: progs.ViaTCX, LinkID: 77, Prog: *fromContainer}},
			Egress:          []progs.Entry{{Via: progs.ViaTCX, LinkID: 78, Prog: *toContainer}},
			IngressRevision: 3, EgressRevision: 2,
		},
		{
			Netns: 4026531840, NetnsName: "host", Ifindex: 2, Name: "eth0",
			Ingress: []progs.Entry{
				{Via: progs.ViaTC, Prio: 1, Handle: 1, Prog: *fromNetdev},
				{Via: progs.ViaTC, Prio: 2, Handle: 1, Prog: *ref(301, "cil_from_container")},
			},
			Egress: []progs.Entry{},
		},
		{
			Netns: 4026532290, Ifindex: 3, Name: "eth0\x1b[31m",
			Ingress: []progs.Entry{},
			Egress:  []progs.Entry{{Via: progs.ViaTC, Prio: 1, Handle: 2, Prog: *prog(330, "cil_to_netdev")}},
		},
	}}
}

func renderProgs(t *testing.T, g *progs.Graph, o Options) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := WriteProgsTree(&b, g, o); err != nil {
		t.Fatalf("render program tree: %v", err)
	}
	return b.Bytes()
}

func TestProgsTreeGolden(t *testing.T) {
	g := ciliumLikeGraph()
	progsGolden(t, "cilium_like.txt", renderProgs(t, g, Options{}))
	progsGolden(t, "cilium_like.ansi", renderProgs(t, g, Options{Color: true}))
	progsGolden(t, "cilium_like.verbose.txt", renderProgs(t, g, Options{Verbose: true}))
	progsGolden(t, "cilium_like.narrow.txt", renderProgs(t, g, Options{Width: 50}))
	progsGolden(t, "empty.txt", renderProgs(t, &progs.Graph{}, Options{}))

	var b bytes.Buffer
	if err := WriteProgsJSON(&b, g); err != nil {
		t.Fatalf("write json: %v", err)
	}
	progsGolden(t, "cilium_like.json", b.Bytes())
	var back progs.Graph
	if err := json.Unmarshal(b.Bytes(), &back); err != nil {
		t.Fatalf("decode json: %v", err)
	}
	if !reflect.DeepEqual(&back, g) {
		t.Error("graph changed in a JSON round trip")
	}
}

func TestProgsTreeSafe(t *testing.T) {
	out := renderProgs(t, ciliumLikeGraph(), Options{})
	if bytes.ContainsRune(out, 0x1b) {
		t.Error("a control character from a device name reached the output")
	}
	for _, l := range strings.Split(strings.TrimSuffix(string(out), "\n"), "\n") {
		if l != strings.TrimRight(l, " ") {
			t.Errorf("trailing blanks in %q", l)
		}
	}
	narrow := renderProgs(t, ciliumLikeGraph(), Options{Width: 50})
	for _, l := range strings.Split(string(narrow), "\n") {
		if w := textWidth(l); w > 50 {
			t.Errorf("line of %d cells at width 50: %q", w, l)
		}
	}
}
