package journey

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

// TestReplayDemo correlates an event stream recorded from `pktlife demo`'s
// datapath on a real kernel (see trace/demo_kernel_test.go, PKTLIFE_RECORD)
// and compares the journeys with a golden file.
func TestReplayDemo(t *testing.T) {
	names, evs := demoStream(t)
	js := run(evs, Options{Resolver: names})

	var dnat, snat, dropped, delivered int
	for _, j := range js {
		for _, n := range j.NAT {
			switch {
			case n.Kind == "dnat" && n.Old.Dst.String() == "10.96.0.10:80" && n.New.Dst.String() == "10.244.2.2:8080":
				dnat++
			case n.Kind == "snat" && n.New.Src.String() == "10.96.0.10:80":
				snat++
			}
		}
		switch j.Fate {
		case FateDropped:
			dropped++
			if j.DropReason != "TC_INGRESS" || j.Tuple.Dst.Port() != 9999 {
				t.Errorf("dropped journey %s: reason %s", j.Tuple, j.DropReason)
			}
		case FateDelivered:
			delivered++
		}
	}
	var chains int
	for _, j := range js {
		for _, h := range j.Hops {
			if len(h.TailCalls) == 2 && h.TailCalls[0].Prog.Name == "demo_nat" && h.TailCalls[1].Prog.Name == "demo_policy" {
				chains++
			}
		}
	}
	if chains < 3 {
		t.Errorf("%d hops with the demo_nat → demo_policy chain, want the UDP request, the TCP packets and the drop", chains)
	}
	if dnat == 0 || snat == 0 || dropped != 1 || delivered < 3 {
		t.Errorf("dnat %d snat %d dropped %d delivered %d: want dnat, snat, one drop, ≥3 delivered", dnat, snat, dropped, delivered)
	}

	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for _, j := range js {
		if err := enc.Encode(j); err != nil {
			t.Fatal(err)
		}
	}
	golden := filepath.Join("../../testdata/streams", "demo.journeys.golden")
	if *update {
		if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(want, buf.Bytes()) {
		gl, wl := strings.Split(buf.String(), "\n"), strings.Split(string(want), "\n")
		for i := range gl {
			if i >= len(wl) || gl[i] != wl[i] {
				t.Fatalf("journey %d differs from %s:\ngot  %s\nwant %s", i+1, golden, gl[i], wl[min(i, len(wl)-1)])
			}
		}
		t.Fatalf("output shorter than %s", golden)
	}
}

// TestStreamRoundTrip writes and reads back a stream.
func TestStreamRoundTrip(t *testing.T) {
	var b builder
	b.add(0xffff888004d2a900, HookTCIngress, 2, fwd, 0)
	b.add(0xffff888004d2a900, HookKfreeSkb, 2, fwd, 5)
	names := &Static{Devices: []Device{{Name: "eth0", Ifindex: 2, Netns: 1}}}
	var buf bytes.Buffer
	if err := WriteStream(&buf, names, b.evs); err != nil {
		t.Fatal(err)
	}
	n2, evs, err := ReadStream(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 2 || evs[0] != b.evs[0] || evs[1] != b.evs[1] || n2.Devices[0].Name != "eth0" {
		t.Errorf("round trip changed the stream: %+v", evs)
	}
	if _, _, err := ReadStream(strings.NewReader(`{"names":{}}` + "\n{bad")); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("want an error naming line 2, got %v", err)
	}
}

// demoStream reads the event stream recorded from the demo datapath.
func demoStream(t *testing.T) (*Static, []Event) {
	t.Helper()
	f, err := os.Open("../../testdata/streams/demo.ndjson")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	names, evs, err := ReadStream(f)
	if err != nil {
		t.Fatal(err)
	}
	return names, evs
}
