package kube

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/pktlife/pktlife/trace/journey"
)

func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("../testdata/kube/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fixtureJourneys decodes a recorded node trace.
func fixtureJourneys(t *testing.T, name string) []*journey.Journey {
	t.Helper()
	var js []*journey.Journey
	d := Decoder{Journey: func(j *journey.Journey) error { js = append(js, j); return nil }}
	if err := d.Decode(strings.NewReader(string(readFixture(t, name)))); err != nil {
		t.Fatal(err)
	}
	return js
}

func TestDecoder(t *testing.T) {
	in := string(readFixture(t, "node-a.ndjson")) +
		"{not json}\n" + `{"schema":2,"id":9,"tuple":{"proto":6},"hops":[],"fate":"unknown","end":"flush"}` + "\n" +
		`{"id":10,"hops":[]}` + "\n\n"
	var js []*journey.Journey
	var status []string
	d := Decoder{
		Node:    "k8s-node-a",
		Journey: func(j *journey.Journey) error { js = append(js, j); return nil },
		Status:  func(s string) { status = append(status, s) },
	}
	if err := d.Decode(strings.NewReader(in)); err != nil {
		t.Fatal(err)
	}
	if len(js) != 4 {
		t.Fatalf("%d journeys, want 4", len(js))
	}
	a1 := js[0]
	if a1.ID != 1 || a1.Node != "node-a" || len(a1.Hops) != 5 || a1.Hops[1].NATFrom == nil ||
		a1.Hops[0].Hook != journey.HookTCIngress || a1.Fate != journey.FateTransmitted || a1.NAT[0].Kind != "dnat" {
		t.Errorf("first journey decoded as %+v", a1)
	}
	if js[3].Node != "k8s-node-a" {
		t.Errorf("journey without a node: node %q, want the decoder's", js[3].Node)
	}
	want := []string{
		"pktlife: tracing on node-a: 14 devices in 3 network namespaces",
		"pktlife: 3 journeys, 0 events lost",
		"{not json}",
		"kubectl-pktlife: the node image writes journey schema 2, this plugin reads schema 1: use matching versions (--image ghcr.io/pktlife/pktlife:latest)",
		`{"id":10,"hops":[]}`,
	}
	if strings.Join(status, "\n") != strings.Join(want, "\n") {
		t.Errorf("status lines:\n%s\nwant:\n%s", strings.Join(status, "\n"), strings.Join(want, "\n"))
	}

	stop := errors.New("stop")
	n := 0
	d = Decoder{Journey: func(*journey.Journey) error { n++; return stop }}
	if err := d.Decode(strings.NewReader(in)); !errors.Is(err, stop) || n != 1 {
		t.Errorf("a failing callback: %v after %d journeys, want it returned after 1", err, n)
	}
}
