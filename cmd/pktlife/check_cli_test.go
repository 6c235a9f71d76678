package main

import (
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pktlife/pktlife/check"
	"github.com/pktlife/pktlife/internal/netnstest"
)

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestCheckUsageErrors: a spec that cannot be checked exits 2 and says
// where the problem is, before anything touches the kernel.
func TestCheckUsageErrors(t *testing.T) {
	bad := writeFile(t, "bad.yaml", "probes:\n  - proto: udp\n    to: 10.0.0.1:53\n    expect:\n      path: [{hook: tc-ingres}]\n")
	noExpect := writeFile(t, "probes.yaml", "probes:\n  - {proto: udp, to: \"10.0.0.1:53\"}\n")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"check", bad}, "bad.yaml:5:21: hook: unknown hook \"tc-ingres\""},
		{[]string{"check", noExpect}, "probes.yaml:2:5: probe \"udp-1\" has no expect"},
		{[]string{"check", filepath.Join(t.TempDir(), "missing.yaml")}, "no such file"},
		{[]string{"check"}, "accepts 1 arg"},
		{[]string{"check", bad, "-o", "yaml"}, "invalid --output"},
		{[]string{"record"}, "give a SPEC with probes, or --demo"},
		{[]string{"record", "--demo", noExpect}, "either a SPEC or --demo"},
		{[]string{"record", "--demo", "--budget-factor", "-1"}, "invalid --budget-factor"},
		{[]string{"record", "--demo", "--packets", "last"}, "invalid --packets"},
		{[]string{"record", bad}, "bad.yaml:5:21"},
	} {
		code, _, stderr := runCLI(t, nil, tc.args...)
		if code != exitUsage || !strings.Contains(stderr, tc.want) {
			t.Errorf("pktlife %s: exit %d, stderr %q; want exit 2 and %q", strings.Join(tc.args, " "), code, stderr, tc.want)
		}
	}
}

// TestCheckCLI (with its own namespace prefix: other tests count the
// default one's namespaces) records the demo, checks it (exit 0), then checks a copy
// with an impossible budget (exit 1, JUnit and JSON say why), and a probe
// from a namespace that does not exist (exit 2).
func TestCheckCLI(t *testing.T) {
	netnstest.RequireRoot(t)
	dir := t.TempDir()
	spec := filepath.Join(dir, "demo.yaml")
	code, _, stderr := runCLI(t, nil, "record", "--demo", "--spec-out", spec, "--wait-busy", "3m", "--demo-prefix", "pl-chkcli")
	if code != 0 {
		t.Fatalf("record: exit %d: %s", code, stderr)
	}
	code, stdout, stderr := runCLI(t, nil, "check", spec, "--wait-busy", "3m", "--demo-prefix", "pl-chkcli")
	if code != 0 {
		t.Fatalf("check of the recorded spec: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "PASS  udp-service  first packet") || !strings.Contains(stdout, "4 passed, 0 failed") {
		t.Errorf("check output:\n%s", stdout)
	}

	s, err := check.Load(spec)
	if err != nil {
		t.Fatal(err)
	}
	s.Probes[0].Expect[0].Total = time.Nanosecond
	tight, err := check.Format(s, "")
	if err != nil {
		t.Fatal(err)
	}
	tightSpec := writeFile(t, "tight.yaml", string(tight))
	junit := filepath.Join(dir, "junit.xml")
	code, stdout, stderr = runCLI(t, nil, "check", tightSpec, "--junit", junit, "-o", "json", "--wait-busy", "3m", "--demo-prefix", "pl-chkcli")
	if code != exitFailure {
		t.Fatalf("check with a 1ns budget: exit %d, want 1\n%s", code, stderr)
	}
	var rep struct {
		Passed bool `json:"passed"`
		Fail   int  `json:"fail"`
		Probes []struct {
			Results []struct {
				Failures []check.Failure `json:"failures"`
			} `json:"results"`
		} `json:"probes"`
	}
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("json output: %v\n%s", err, stdout)
	}
	if rep.Passed || rep.Fail != 1 || rep.Probes[0].Results[0].Failures[0].Kind != "total" {
		t.Errorf("json report: %+v", rep)
	}
	b, err := os.ReadFile(junit)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Tests int `xml:"tests,attr"`
		Fails int `xml:"failures,attr"`
	}
	if err := xml.Unmarshal(b, &doc); err != nil || doc.Fails != 1 || doc.Tests != 7 {
		t.Errorf("junit: %v %+v\n%s", err, doc, b)
	}
	if !strings.Contains(string(b), "│ actual") {
		t.Errorf("junit failure has no side-by-side diff:\n%s", b)
	}

	gone := writeFile(t, "gone.yaml", "setup: {demo: true}\nprobes:\n  - proto: udp\n    from: /run/netns/pktlife-no-such-netns\n    to: 10.96.0.10:80\n    expect: {fate: delivered}\n")
	code, _, stderr = runCLI(t, nil, "check", gone, "--wait-busy", "3m", "--demo-prefix", "pl-chkcli")
	if code != exitUsage || !strings.Contains(stderr, "pktlife-no-such-netns") {
		t.Errorf("check from a missing namespace: exit %d, %s; want 2", code, stderr)
	}
}
