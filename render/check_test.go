package render

import (
	"bytes"
	"strings"
	"testing"

	"github.com/pktlife/pktlife/check"
	"github.com/pktlife/pktlife/trace/journey"
)

// checkReport compares missedTailCall's recording with a journey whose
// second tail call went elsewhere.
func checkReport(t *testing.T) *check.Report {
	t.Helper()
	e := check.ExpectFromJourney(check.PacketFirst, missedTailCall(), check.RecordOptions{Chains: true})
	bad := missedTailCall()
	bad.Hops[1].TailCalls[1] = journey.TailCall{Map: "demo_calls", MapID: 12, Slot: 1, Prog: journey.Prog{ID: 81, Name: "demo_policy"}}
	return &check.Report{Spec: "spec.yaml", Probes: []check.ProbeReport{
		{Name: "good", Proto: "tcp", Results: []check.Result{check.NewResult(&e, missedTailCall())}},
		{Name: "slot-changed", Proto: "tcp", Note: "connect: i/o timeout", Results: []check.Result{check.NewResult(&e, bad)}},
	}}
}

func TestWriteCheckFailure(t *testing.T) {
	var b bytes.Buffer
	if err := WriteCheck(&b, checkReport(t), Options{Width: 140}); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	t.Logf("\n%s", out)
	for _, want := range []string{
		"PASS  good  first packet",
		"FAIL  slot-changed  first packet",
		"✗ first divergence: step 2, hop 2 tc-ingress veth-a: chain: expected [demo_calls/0] demo_nat → [demo_calls/3] missed, got [demo_calls/0]\n",
		"                    demo_nat → [demo_calls/1] demo_policy\n",
		"note: connect: i/o timeout",
		"expected",
		"pktlife check: 1 passed, 1 failed · spec.yaml",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	// the divergence row pairs the expected chain with the observed one
	lines := strings.Split(out, "\n")
	found := false
	for i, l := range lines {
		if strings.Contains(l, "✗ tc-ingress veth-a @host") && strings.Contains(l, "│  2 tc-ingress veth-a @host") {
			found = true
			if i+2 >= len(lines) || !strings.Contains(lines[i+2], "chain [demo_calls/0] demo_nat → [demo_calls/3] missed") ||
				!strings.Contains(lines[i+2], "chain [demo_calls/0] demo_nat → [demo_calls/1] demo_policy") {
				t.Errorf("chain lines not side by side:\n%s\n%s\n%s", l, lines[i+1], lines[min(i+2, len(lines)-1)])
			}
		}
	}
	if !found {
		t.Error("no divergence row for the tc-ingress hop")
	}
	if strings.Contains(out, "\x1b") {
		t.Error("escape sequences without colour")
	}
	for _, l := range lines {
		if w := textWidth(l); w > 140 {
			t.Errorf("line of %d cells: %q", w, l)
		}
	}
	// the passing probe draws no table unless verbose
	if n := strings.Count(out, "│ actual"); n != 1 {
		t.Errorf("tables drawn: %d, want 1", n)
	}
}

func TestWriteCheckColorAndVerbose(t *testing.T) {
	var b bytes.Buffer
	if err := WriteCheck(&b, checkReport(t), Options{Color: true, Verbose: true, Width: 100}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "\x1b[") {
		t.Error("no colour")
	}
	if n := strings.Count(b.String(), "actual"); n != 2 {
		t.Errorf("%d tables with Verbose, want 2", n)
	}
}

func TestCheckDetail(t *testing.T) {
	r := checkReport(t)
	d := CheckDetail(&r.Probes[1], &r.Probes[1].Results[0], 120)
	if !strings.Contains(d, "✗ tc-ingress") || strings.Contains(d, "\x1b") {
		t.Errorf("detail:\n%s", d)
	}
}
