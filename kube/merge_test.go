package kube

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pktlife/pktlife/trace/journey"
)

// testOrder places the fixtures' pods: client on node-a, server on node-b.
var testOrder = Order{
	netip.MustParseAddr("10.244.1.5"): "node-a",
	netip.MustParseAddr("10.244.2.7"): "node-b",
}

// summarize writes each timeline as "node#id node#id match".
func summarize(t *testing.T, ts []Timeline) []string {
	t.Helper()
	out := make([]string, len(ts))
	for i, tl := range ts {
		var parts []string
		for _, h := range tl.Halves {
			if h.Node != h.Journey.Node {
				t.Errorf("half labelled %s holds a journey of %s", h.Node, h.Journey.Node)
			}
			parts = append(parts, fmt.Sprintf("%s#%d", h.Node, h.Journey.ID))
		}
		if tl.Match != MatchNone {
			parts = append(parts, tl.Match)
		}
		out[i] = strings.Join(parts, " ")
	}
	return out
}

func decodeTimelines(t *testing.T, b []byte) []Timeline {
	t.Helper()
	var ts []Timeline
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, maxLine)
	for sc.Scan() {
		var tl Timeline
		if err := json.Unmarshal(sc.Bytes(), &tl); err != nil {
			t.Fatalf("decode timeline: %v", err)
		}
		if tl.Schema != TimelineSchema || tl.Kind != "timeline" {
			t.Errorf("timeline schema %d kind %q", tl.Schema, tl.Kind)
		}
		ts = append(ts, tl)
	}
	return ts
}

func TestMergeStreams(t *testing.T) {
	a := fixtureJourneys(t, "node-a.ndjson")
	b := fixtureJourneys(t, "node-b.ndjson")
	// The request went out of node-a through a service address (DNAT on
	// node-a) and arrived at node-b; node-b saw one more request whose
	// node-a half was lost; the reply went back (reverse NAT on node-a);
	// a second request was dropped on node-a.
	want := []string{
		"node-a#1 node-b#1 tuple+ip-id",
		"node-b#2",
		"node-b#3 node-a#2 tuple+ip-id",
		"node-a#3",
	}
	for _, o := range []Order{testOrder, nil} { // without addresses, the half that left its node goes first
		ts := MergeStreams("node-a", a, "node-b", b, o)
		if got := summarize(t, ts); !slices.Equal(got, want) {
			t.Errorf("order %v: timelines\n%q\nwant\n%q", o, got, want)
			continue
		}
		if ts[0].IPID != 0x1a01 || ts[2].IPID != 0x2b01 || ts[1].IPID != 0 {
			t.Errorf("IP IDs %#x %#x %#x", ts[0].IPID, ts[1].IPID, ts[2].IPID)
		}
		// A timeline's tuple is the packet's as its sender saw it first:
		// the service address, before node-a's DNAT.
		if got := ts[0].Tuple.String(); got != "udp 10.244.1.5:40000 → 10.96.0.20:80" {
			t.Errorf("first timeline's tuple %s", got)
		}
	}
	// The other way round: node-b's stream as the first.
	got := summarize(t, MergeStreams("node-b", b, "node-a", a, testOrder))
	want = []string{"node-a#1 node-b#1 tuple+ip-id", "node-b#2", "node-b#3 node-a#2 tuple+ip-id", "node-a#3"}
	if !slices.Equal(got, want) {
		t.Errorf("node-b first: %q, want %q", got, want)
	}
}

// mk builds a journey with one hop per tuple.
func mk(node string, id uint64, fate journey.Fate, ts ...journey.Tuple) *journey.Journey {
	j := &journey.Journey{Schema: 1, ID: id, Node: node, Tuple: ts[0], Fate: fate}
	for i, t := range ts {
		j.Hops = append(j.Hops, journey.Hop{Index: i + 1, Hook: journey.HookNetDevQueue, Tuple: t})
	}
	return j
}

func tcp(src, dst string, ipID uint16, flags uint8) journey.Tuple {
	return journey.Tuple{Proto: 6, Src: netip.MustParseAddrPort(src), Dst: netip.MustParseAddrPort(dst), IPID: ipID, TCPFlags: flags}
}

func TestMatchRules(t *testing.T) {
	const syn, ack = 0x02, 0x10
	req := tcp("10.244.1.5:33000", "10.244.2.7:80", 7, syn)
	for _, tc := range []struct {
		name string
		a, b *journey.Journey
		want string // match kind, "" for none
	}{
		{"same packet", mk("a", 1, "", req), mk("b", 1, "", req), MatchIPID},
		{"same node", mk("a", 1, "", req), mk("a", 2, "", req), ""},
		{"reply", mk("a", 1, "", req), mk("b", 1, "", req.Reverse()), ""},
		{"other IP ID", mk("a", 1, "", req), mk("b", 1, "", tcp("10.244.1.5:33000", "10.244.2.7:80", 8, syn)), ""},
		{"other flags", mk("a", 1, "", req), mk("b", 1, "", tcp("10.244.1.5:33000", "10.244.2.7:80", 7, ack)), ""},
		{"other protocol", mk("a", 1, "", req), mk("b", 1, "", journey.Tuple{Proto: 17, Src: req.Src, Dst: req.Dst, IPID: 7}), ""},
		{"through SNAT", mk("a", 1, "", req, tcp("192.168.0.1:61000", "10.244.2.7:80", 7, syn)),
			mk("b", 1, "", tcp("192.168.0.1:61000", "10.244.2.7:80", 7, syn)), MatchIPID},
		{"vxlan on one node", mk("a", 1, "", req), mk("b", 1, "",
			journey.Tuple{Proto: 17, Src: netip.MustParseAddrPort("192.168.0.1:40000"), Dst: netip.MustParseAddrPort("192.168.0.2:8472"), IPID: 999},
			req), MatchIPID},
		{"no IP ID", mk("a", 1, "", tcp("[fd00::5]:1", "[fd00::7]:2", 0, ack)), mk("b", 1, "", tcp("[fd00::5]:1", "[fd00::7]:2", 0, ack)), MatchTuple},
	} {
		got, _, ok := matches(newHalf(tc.a.Node, tc.a), newHalf(tc.b.Node, tc.b))
		if ok != (tc.want != "") || got != tc.want {
			t.Errorf("%s: match %q %v, want %q", tc.name, got, ok, tc.want)
		}
	}

	// Without IP IDs, packets of one flow pair up first with first.
	v6 := tcp("[fd00::5]:1", "[fd00::7]:2", 0, ack)
	a := []*journey.Journey{mk("a", 1, journey.FateTransmitted, v6), mk("a", 2, journey.FateTransmitted, v6)}
	b := []*journey.Journey{mk("b", 1, journey.FateDelivered, v6), mk("b", 2, journey.FateDelivered, v6)}
	got := summarize(t, MergeStreams("a", a, "b", b, nil))
	if want := []string{"a#1 b#1 tuple", "a#2 b#2 tuple"}; !slices.Equal(got, want) {
		t.Errorf("first with first: %q, want %q", got, want)
	}
}

func TestMerger(t *testing.T) {
	a := fixtureJourneys(t, "node-a.ndjson")
	b := fixtureJourneys(t, "node-b.ndjson")
	m := &Merger{Order: testOrder, Window: 2 * time.Second}
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	var got []string
	step := func(ts []Timeline) { got = append(got, summarize(t, ts)...) }

	step(m.Add("node-a", a[0], at(0)))
	step(m.Add("node-b", b[1], at(1))) // the lost one: no partner
	step(m.Add("node-b", b[0], at(2))) // completes node-a#1 at once
	step(m.Expire(at(1500)))
	if want := []string{"node-a#1 node-b#1 tuple+ip-id"}; !slices.Equal(got, want) {
		t.Fatalf("after 1.5 s: %q, want %q", got, want)
	}
	step(m.Add("node-b", b[2], at(1600)))
	step(m.Expire(at(2001))) // node-b#2 waited 2 s
	step(m.Add("node-a", a[1], at(2100)))
	step(m.Add("node-a", a[2], at(2200)))
	step(m.Flush())
	want := []string{"node-a#1 node-b#1 tuple+ip-id", "node-b#2", "node-b#3 node-a#2 tuple+ip-id", "node-a#3"}
	if !slices.Equal(got, want) {
		t.Errorf("timelines %q, want %q", got, want)
	}
	if len(m.Flush()) != 0 {
		t.Error("Flush left halves waiting")
	}
}

// lineRenderer stands in for render.Text.
type lineRenderer struct {
	w      io.Writer
	closed *int
}

func (r lineRenderer) Journey(j *journey.Journey) error {
	fmt.Fprintf(r.w, "journey %d on %s\n", j.ID, j.Node)
	return nil
}
func (r lineRenderer) Close() error { *r.closed++; return nil }

func TestTimelineText(t *testing.T) {
	ts := MergeStreams("node-a", fixtureJourneys(t, "node-a.ndjson"), "node-b", fixtureJourneys(t, "node-b.ndjson"), testOrder)
	var out bytes.Buffer
	closed := 0
	w := &TimelineText{W: &out, New: func(w io.Writer) Renderer { return lineRenderer{w, &closed} }}
	for i := range ts {
		if err := w.Timeline(&ts[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil || closed != 4 {
		t.Errorf("close: %v, %d renderers closed, want 4", err, closed)
	}
	want := `══ timeline 1 · node-a → node-b · matched by tuple and IP ID 0x1a01 · times per node
journey 1 on node-a
journey 1 on node-b

══ timeline 2 · node-b · seen on this node only
journey 2 on node-b

══ timeline 3 · node-b → node-a · matched by tuple and IP ID 0x2b01 · times per node
journey 3 on node-b
journey 2 on node-a

══ timeline 4 · node-a · seen on this node only
journey 3 on node-a
`
	if out.String() != want {
		t.Errorf("text:\n%s\nwant:\n%s", out.String(), want)
	}
}
