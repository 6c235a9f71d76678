package render

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
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
	d := checkDetail(&r.Probes[1], &r.Probes[1].Results[0], 120)
	if !strings.Contains(d, "✗ tc-ingress") || strings.Contains(d, "\x1b") {
		t.Errorf("detail:\n%s", d)
	}
}

// sampleReport is checkReport with a second packet of the failing probe
// that no journey was seen for: one probe passes, one fails twice.
func sampleReport(t *testing.T) *check.Report {
	t.Helper()
	r := checkReport(t)
	p := &r.Probes[1]
	p.Results = append(p.Results, check.NewResult(p.Results[0].Expect, nil))
	return r
}

func TestJUnit(t *testing.T) {
	r := sampleReport(t)
	var b bytes.Buffer
	if err := WriteCheckJUnit(&b, r); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Tests int `xml:"tests,attr"`
		Fails int `xml:"failures,attr"`
		Suite struct {
			Cases []struct {
				Name    string `xml:"name,attr"`
				Failure *struct {
					Message string `xml:"message,attr"`
					Type    string `xml:"type,attr"`
					Text    string `xml:",chardata"`
				} `xml:"failure"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatalf("parse junit: %v\n%s", err, b.String())
	}
	if doc.Tests != 3 || doc.Fails != 2 || len(doc.Suite.Cases) != 3 {
		t.Fatalf("tests %d failures %d cases %d:\n%s", doc.Tests, doc.Fails, len(doc.Suite.Cases), b.String())
	}
	c := doc.Suite.Cases[1]
	if c.Name != "slot-changed (first packet)" || c.Failure == nil || c.Failure.Type != "chain" || !strings.Contains(c.Failure.Message, "demo_policy") {
		t.Errorf("case %+v", c)
	}
	if doc.Suite.Cases[0].Failure != nil {
		t.Errorf("passing case has a failure")
	}
	if r.Passed() {
		t.Error("report passed")
	}
	if p, f := r.Counts(); p != 1 || f != 1 {
		t.Errorf("counts %d %d", p, f)
	}
}

func TestReportJSON(t *testing.T) {
	var b bytes.Buffer
	if err := WriteCheckJSON(&b, sampleReport(t)); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Passed bool `json:"passed"`
		Fail   int  `json:"fail"`
		Probes []struct {
			Name    string `json:"name"`
			Results []struct {
				Pass     bool            `json:"pass"`
				Failures []check.Failure `json:"failures"`
				Expected []string        `json:"expected"`
				Rows     []check.Row     `json:"rows"`
				Journey  *struct {
					Hops []json.RawMessage `json:"hops"`
				} `json:"journey"`
			} `json:"results"`
		} `json:"probes"`
	}
	if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatalf("parse: %v", err)
	}
	if doc.Passed || doc.Fail != 1 || len(doc.Probes) != 2 {
		t.Fatalf("doc %+v", doc)
	}
	r := doc.Probes[1].Results[0]
	if r.Pass || r.Failures[0].Kind != "chain" || len(r.Expected) == 0 || len(r.Rows) == 0 || r.Journey == nil || len(r.Journey.Hops) != len(missedTailCall().Hops) {
		t.Errorf("result %+v", r)
	}
	if doc.Probes[1].Results[1].Journey != nil {
		t.Error("missing journey encoded")
	}
}
