package runner

import (
	"strings"
	"testing"
	"time"

	"github.com/pktlife/pktlife/bpf/demodp"
	"github.com/pktlife/pktlife/check"
	"github.com/pktlife/pktlife/demo"
)

// TestBrokenDatapaths records the demo once, then checks deliberately
// broken datapaths against the recording: each must fail, and the UDP
// service packet's first divergence must name what broke.
func TestBrokenDatapaths(t *testing.T) {
	good := recordDemo(t, RecordOptions{})
	if !hasChains(good) {
		t.Fatal("the recorded spec has no tail-call chains: per-packet tail calls (interpose) did not work")
	}
	for _, tc := range []struct {
		name    string
		prepare func(*DemoEnv) error
		config  func(*demodp.DemoSvcConfig)
		spec    func(*check.Spec)
		kind    string // of the first divergence
		dev     string // the step it is at
		hook    string
		actual  string // in the failure's actual side or message
	}{
		{
			name: "tail-call slot changed",
			prepare: func(e *DemoEnv) error {
				o := &e.Datapath.Objects
				if err := o.DemoCalls.Put(demo.SlotNAT, o.DemoPolicy); err != nil {
					return err
				}
				return o.DemoCalls.Put(demo.SlotPolicy, o.DemoNat)
			},
			kind: "chain", hook: "tc-ingress", dev: "lxc-poda", actual: "[demo_calls/0] demo_policy",
		},
		{
			name:    "program removed",
			prepare: func(e *DemoEnv) error { return e.Datapath.Objects.DemoCalls.Delete(demo.SlotPolicy) },
			kind:    "chain", hook: "tc-ingress", dev: "lxc-poda", actual: "[demo_calls/1] missed",
		},
		{
			name:   "policy now drops",
			config: func(c *demodp.DemoSvcConfig) { c.DenyPort = demo.BackendPort },
			kind:   "hop", hook: "tc-egress", dev: "lxc-podb", actual: "drop_reason=TC_INGRESS",
		},
		{
			name:   "NAT removed",
			config: func(c *demodp.DemoSvcConfig) { c.SvcPort = demo.ServicePort + 1 },
			kind:   "nat", hook: "tc-egress", dev: "lxc-podb", actual: "never happened",
		},
		{
			name: "latency budget too tight",
			spec: func(s *check.Spec) {
				path := s.Probes[0].Expect[0].Path
				for i := range path {
					if path[i].Dev == "lxc-podb" {
						path[i].Budget = time.Nanosecond
					}
				}
			},
			kind: "budget", hook: "tc-egress", dev: "lxc-podb", actual: "budget: expected ≤ 1ns",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := cloneSpec(t, good)
			if tc.spec != nil {
				tc.spec(s)
			}
			o := testOptions(t)
			o.Prepare = tc.prepare
			o.DemoDatapath.Configure = tc.config
			rep := runCheck(t, s, o)
			if rep.Passed() {
				t.Fatal("the broken datapath passed")
			}
			udp := rep.Probes[0]
			if udp.Name != "udp-service" {
				t.Fatalf("first probe %s", udp.Name)
			}
			res := udp.Results[0]
			f := res.FirstDivergence()
			if f == nil {
				t.Fatal("udp-service's first packet passed")
			}
			if f.Kind != tc.kind {
				t.Errorf("first divergence is %q, want %q: %s", f.Kind, tc.kind, f.Message)
			}
			if f.Step < 0 {
				t.Fatalf("first divergence is not on the path: %s", f.Message)
			}
			st := res.Expect.Path[f.Step]
			if st.Hook != tc.hook || st.Dev != tc.dev {
				t.Errorf("first divergence at step %d (%s), want the %s step on %s", f.Step+1, st.String(), tc.hook, tc.dev)
			}
			if !strings.Contains(f.Actual+" "+f.Message, tc.actual) {
				t.Errorf("first divergence lacks %q: %s", tc.actual, f.Message)
			}
			if tc.spec != nil {
				// only the budget changed: everything else still passes
				for _, p := range rep.Probes {
					for i, r := range p.Results {
						if !r.Pass && !(p.Name == "udp-service" && i == 0) {
							t.Errorf("%s %s failed: %s", p.Name, r.Packet, r.FirstDivergence().Message)
						}
					}
				}
			}
		})
	}
}

func hasChains(s *check.Spec) bool {
	for _, p := range s.Probes {
		for _, e := range p.Expect {
			for _, st := range e.Path {
				if len(st.Chain) > 0 {
					return true
				}
			}
		}
	}
	return false
}

// cloneSpec copies a spec deeply enough for a test to change it, through
// its YAML form.
func cloneSpec(t *testing.T, s *check.Spec) *check.Spec {
	t.Helper()
	b, err := check.Format(s, "")
	if err != nil {
		t.Fatal(err)
	}
	c, err := check.Parse(s.File, b)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
