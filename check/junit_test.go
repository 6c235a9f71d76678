package check

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"strings"
	"testing"
)

func sampleReport(t *testing.T) *Report {
	t.Helper()
	good := recordGood(t, true)
	bad := good
	bad.Path = append([]Step(nil), good.Path...)
	for i := range bad.Path {
		if bad.Path[i].Dev == "lxc-poda" {
			bad.Path[i].Chain = []ChainStep{{Map: "demo_calls", Slot: 0, Prog: "demo_policy"}}
		}
	}
	return &Report{Spec: "demo.yaml", Probes: []ProbeReport{
		{Name: "ok", Proto: "udp", Results: []Result{NewResult(&good, goodUDP())}},
		{Name: "broken", Proto: "udp", Results: []Result{NewResult(&bad, goodUDP()), NewResult(&good, nil)}},
	}}
}

func TestJUnit(t *testing.T) {
	r := sampleReport(t)
	var b bytes.Buffer
	if err := r.WriteJUnit(&b, nil); err != nil {
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
	if c.Name != "broken (first packet)" || c.Failure == nil || c.Failure.Type != "chain" || !strings.Contains(c.Failure.Message, "demo_policy") {
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
	if err := sampleReport(t).WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Passed bool `json:"passed"`
		Fail   int  `json:"fail"`
		Probes []struct {
			Name    string `json:"name"`
			Results []struct {
				Pass     bool      `json:"pass"`
				Failures []Failure `json:"failures"`
				Expected []string  `json:"expected"`
				Rows     []Row     `json:"rows"`
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
	if r.Pass || r.Failures[0].Kind != "chain" || len(r.Expected) == 0 || len(r.Rows) == 0 || r.Journey == nil || len(r.Journey.Hops) != 12 {
		t.Errorf("result %+v", r)
	}
	if doc.Probes[1].Results[1].Journey != nil {
		t.Error("missing journey encoded")
	}
}
