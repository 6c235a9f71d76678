package runner

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/pktlife/pktlife/check"
	"github.com/pktlife/pktlife/demo"
	"github.com/pktlife/pktlife/internal/netnstest"
	"github.com/pktlife/pktlife/render"
	"github.com/pktlife/pktlife/trace"
)

// testOptions name the demo's namespaces for tests and trace tail calls
// per packet.
func testOptions(t *testing.T) Options {
	t.Helper()
	// other packages' tests may hold the interposition lock meanwhile
	return Options{DemoPrefix: "pl-chk", TailCalls: trace.TailCallsInterpose, Timeout: 3 * time.Second, WaitBusy: 3 * time.Minute}
}

// recordDemo records the demo probes and reads the written spec back, as
// `pktlife record --demo` then `pktlife check` would.
func recordDemo(t *testing.T, ro RecordOptions) *check.Spec {
	t.Helper()
	netnstest.RequireRoot(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	got, err := Record(ctx, DemoProbes(), testOptions(t), ro)
	if err != nil {
		t.Fatalf("record: %v", err)
	}
	out, err := check.Format(got, "recorded by a test")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("recorded spec:\n%s", out)
	s, err := check.Parse("recorded.yaml", out)
	if err != nil {
		t.Fatalf("parse the recorded spec: %v\n%s", err, out)
	}
	return s
}

func runCheck(t *testing.T, s *check.Spec, o Options) *check.Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rep, err := Check(ctx, s, o)
	if err != nil {
		t.Fatalf("check: %v", err)
	}
	var b bytes.Buffer
	render.WriteCheck(&b, rep, render.Options{Width: 160})
	t.Logf("check report:\n%s", b.String())
	return rep
}

func TestRecordThenCheck(t *testing.T) {
	s := recordDemo(t, RecordOptions{})
	rep := runCheck(t, s, testOptions(t))
	if !rep.Passed() {
		t.Fatal("the demo fails the spec recorded from it")
	}
}

// TestCommittedDemoSpec checks the demo against the spec committed in
// testdata, the one docs/check.md and CI use.
func TestCommittedDemoSpec(t *testing.T) {
	netnstest.RequireRoot(t)
	for _, name := range []string{"demo.yaml", "demo-handwritten.yaml"} {
		t.Run(name, func(t *testing.T) {
			s, err := check.Load("../../testdata/check/" + name)
			if err != nil {
				t.Fatal(err)
			}
			// the spec's globs name the default prefix; tests use their own,
			// as other tests count the default one's namespaces
			for i := range s.Probes {
				for k := range s.Probes[i].Expect {
					path := s.Probes[i].Expect[k].Path
					for m := range path {
						path[m].Netns = strings.Replace(path[m].Netns, "pktlife-demo-", "pl-chk-", 1)
					}
				}
			}
			o := testOptions(t)
			if rep := runCheck(t, s, o); !rep.Passed() {
				t.Fatalf("the demo fails testdata/check/%s: if the change is intended, re-record it (pktlife record --demo) or edit it", name)
			}
		})
	}
}

// TestDemoAddressing keeps DemoProbes' literal addresses in step with the
// demo topology's.
func TestDemoAddressing(t *testing.T) {
	netnstest.RequireRoot(t)
	topo, err := demo.NewTopology(context.Background(), demo.Options{Prefix: "pl-chk"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { topo.Close() })
	if topo.PodB.IP() != demoPodB {
		t.Errorf("pod B is %s, DemoProbes sends to %s", topo.PodB.IP(), demoPodB)
	}
	if topo.Service != serviceAddrPort() {
		t.Errorf("service is %s, DemoProbes sends to %s", topo.Service, serviceAddrPort())
	}
}

// TestSetupFilter runs the hand-written demo spec with a setup filter
// that excludes UDP: its UDP probes find no journeys and fail, the others
// pass, so the expression reached the kernel's filter.
func TestSetupFilter(t *testing.T) {
	netnstest.RequireRoot(t)
	s, err := check.Load("../../testdata/check/demo-handwritten.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for i := range s.Probes {
		for k := range s.Probes[i].Expect {
			path := s.Probes[i].Expect[k].Path
			for m := range path {
				path[m].Netns = strings.Replace(path[m].Netns, "pktlife-demo-", "pl-chk-", 1)
			}
		}
	}
	s.Setup.Filter = "not udp"
	rep := runCheck(t, s, testOptions(t))
	var udp, other int
	for i := range rep.Probes {
		p := &rep.Probes[i]
		isUDP := s.Probes[i].Proto == "udp"
		switch {
		case isUDP && p.Pass():
			t.Errorf("probe %s passed, but the filter excludes UDP", p.Name)
		case !isUDP && !p.Pass():
			t.Errorf("probe %s failed, but the filter lets %s through", p.Name, s.Probes[i].Proto)
		case isUDP:
			udp++
		default:
			other++
		}
	}
	if udp == 0 || other == 0 {
		t.Fatalf("%d UDP and %d other probes: the test proves nothing", udp, other)
	}
}
