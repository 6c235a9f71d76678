package check

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pktlife/pktlife/trace/journey"
)

func TestParseHandwritten(t *testing.T) {
	s, err := Load("../testdata/check/demo-handwritten.yaml")
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	if !s.Setup.Demo || s.Setup.Timeout != 3*time.Second {
		t.Errorf("setup = %+v", s.Setup)
	}
	if len(s.Probes) != 4 {
		t.Fatalf("probes = %d, want 4", len(s.Probes))
	}
	udp := s.Probes[0]
	if udp.From.Netns != "poda" || udp.To.String() != "10.96.0.10:80" || udp.Listen == nil || udp.Listen.Netns != "podb" {
		t.Errorf("udp probe = %+v", udp)
	}
	if len(udp.Expect) != 2 || udp.Expect[1].Packet != PacketReply {
		t.Fatalf("udp expectations = %+v", udp.Expect)
	}
	first := udp.Expect[0]
	if len(first.Path) != 8 || !first.Path[1].Gap || first.Path[4].NAT == nil || first.Path[4].NAT.Dst.String() != "10.244.2.2:8080" {
		t.Errorf("path = %+v", first.Path)
	}
	if first.Path[4].Budget != 5*time.Millisecond || first.Path[4].Pos.Line != 22 {
		t.Errorf("step 5: budget %s at line %d", first.Path[4].Budget, first.Path[4].Pos.Line)
	}
	if first.Total != 10*time.Millisecond || !first.NATSet || len(first.NAT) != 1 {
		t.Errorf("total %s nat %+v", first.Total, first.NAT)
	}
	tcp := s.Probes[1]
	if tcp.Expect[0].Packet != PacketFirst || tcp.Expect[0].Path[1].Hook != "tc" {
		t.Errorf("tcp = %+v", tcp.Expect)
	}
	denied := s.Probes[2].Expect[0]
	if denied.Path[1].Verdict != "TC_ACT_SHOT" || denied.Fate != journey.FateDropped || denied.DropReason != "TC_INGRESS" {
		t.Errorf("denied = %+v", denied)
	}
	if s.Probes[3].To.Port() != 0 || s.Probes[3].Proto != "icmp" {
		t.Errorf("ping = %+v", s.Probes[3])
	}
}

func TestParseChains(t *testing.T) {
	s, err := Load("../testdata/check/chains.yaml")
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	st := s.Probes[0].Expect[0].Path[1]
	want := []ChainStep{
		{Map: "cilium_calls_*", Slot: -1, Prog: "cil_lxc_policy"},
		{Gap: true, Slot: -1},
		{Map: "cilium_calls_*", Slot: 7, Missed: true},
	}
	if !st.ChainSet || !reflect.DeepEqual(st.Chain, want) {
		t.Errorf("chain = %+v, want %+v", st.Chain, want)
	}
	if s.Probes[0].From.Addr.String() != "10.0.1.5" || s.Probes[0].From.Netns != "/run/netns/client" {
		t.Errorf("from = %+v", s.Probes[0].From)
	}
}

// TestParseErrors checks that each mistake is reported at its line and
// column with a useful message.
func TestParseErrors(t *testing.T) {
	head := "probes:\n  - proto: udp\n    to: 10.0.0.1:53\n"
	for _, tc := range []struct {
		name, spec, want string
	}{
		{"unknown top key", "probe: []\n", `x.yaml:1:1: unknown key "probe" in spec (did you mean "probes"?)`},
		{"unknown probe key", "probes:\n  - proto: udp\n    to: 10.0.0.1:53\n    too: 1\n", `x.yaml:4:5: unknown key "too" in probe (did you mean "to"?)`},
		{"unknown hop key", head + "    expect:\n      path: [{hook: tc-ingress, devv: eth0}]\n", `x.yaml:5:33: unknown key "devv" in hop (did you mean "dev"?)`},
		{"unknown hook", head + "    expect:\n      path: [{hook: tc-ingres}]\n", `x.yaml:5:21: hook: unknown hook "tc-ingres" (did you mean "tc-ingress"?)`},
		{"bad glob", head + "    expect:\n      path: [{dev: \"lxc[\"}]\n", `x.yaml:5:20: dev: bad glob "lxc[": syntax error in pattern`},
		{"negative budget", head + "    expect:\n      path: [{hook: tc, budget: -5us}]\n", `x.yaml:5:33: budget: a budget must be positive, got -5us`},
		{"zero total", head + "    expect:\n      total: 0s\n", `x.yaml:5:14: total: a budget must be positive, got 0s`},
		{"bad duration", head + "    expect:\n      total: fast\n", `x.yaml:5:14: total: want a duration`},
		{"hop budget over total", head + "    expect:\n      path: [{hook: tc, budget: 5ms}]\n      total: 2ms\n", `x.yaml:5:33: budget 5ms is larger than the journey's total budget 2ms (line 6)`},
		{"chain on a tracepoint", head + "    expect:\n      path: [{hook: netif_rx, chain: []}]\n", `x.yaml:5:21: hook: prog, progs, chain and verdict belong to tc hooks`},
		{"bad chain", head + "    expect:\n      path: [{hook: tc, chain: [\"[calls/x] nat\"]}]\n", `x.yaml:5:33: chain: slot: want a number or *, got "x"`},
		{"bad verdict", head + "    expect:\n      path: [{hook: tc, verdict: drop}]\n", `x.yaml:5:34: verdict: unknown verdict "drop"`},
		{"bad fate", head + "    expect:\n      fate: lost\n", `x.yaml:5:13: fate: want delivered, dropped`},
		{"icmp with port", "probes:\n  - proto: icmp\n    to: 10.0.0.1:53\n", `x.yaml:3:9: to: an icmp probe goes to an address without port`},
		{"udp without port", "probes:\n  - proto: udp\n    to: 10.0.0.1\n", `x.yaml:3:9: to: want address:port`},
		{"missing proto", "probes:\n  - to: 10.0.0.1:53\n", `x.yaml:2:5: probe: proto is missing`},
		{"syn for udp", head + "    expect:\n      packet: syn\n", `x.yaml:5:15: packet: syn is for tcp probes`},
		{"duplicate names", "probes:\n  - {name: a, proto: udp, to: \"10.0.0.1:1\"}\n  - {name: a, proto: udp, to: \"10.0.0.1:1\"}\n", `x.yaml:3:5: probe "a": the name is already used at line 2`},
		{"duplicate key", head + "    to: 10.0.0.2:53\n", `x.yaml:4:5: duplicate key "to" in probe`},
		{"alias", "setup: &s {demo: true}\nprobes: [*s]\n", `anchors and aliases are not supported`},
		{"unquoted star", head + "    expect:\n      path: [{netns: *-poda}]\n", `quote globs that start with "*"`},
		{"yaml syntax", "probes: [\n", `x.yaml:1: YAML: did not find expected node content`},
		{"empty", "", `empty spec`},
		{"version", "version: 2\nprobes: []\n", `x.yaml:1:10: version: this pktlife reads version 1 specs`},
		{"drop reason without drop", head + "    expect:\n      fate: delivered\n      drop_reason: X\n", `drop_reason needs fate dropped`},
		{"tail calls", "setup: {tail_calls: yes}\nprobes: []\n", `x.yaml:1:21: tail_calls: want off or interpose`},
		{"filter", "setup: {filter: \"udp and\"}\nprobes: []\n", `x.yaml:1:17: filter: parse filter "udp and": missing a primitive at the end`},
		{"filter refused", "setup:\n  filter: ip[6:2] & 0x1fff = 0\nprobes: []\n", `x.yaml:2:11: filter: parse filter "ip[6:2] & 0x1fff = 0": packet byte offsets (ip[...]) are not supported; of them, only tcp[tcpflags] is at offset 2`},
		{"listen for icmp", "probes:\n  - {proto: icmp, to: 10.0.0.1, listen: {addr: \"10.0.0.1:1\"}}\n", `listen is for udp and tcp probes`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("x.yaml", []byte(tc.spec))
			if err == nil {
				t.Fatalf("no error, want %q", tc.want)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error does not wrap ErrInvalid: %v", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error:\n%v\nwant it to contain:\n%s", err, tc.want)
			}
		})
	}
}

func TestParseReportsAllErrorsInOrder(t *testing.T) {
	spec := "probes:\n  - proto: udp\n    to: 10.0.0.1:53\n    expect:\n      path: [{hook: nope}, {dev: \"[\"}]\n      fate: gone\n"
	_, err := Parse("x.yaml", []byte(spec))
	var es Errors
	if !errors.As(err, &es) {
		t.Fatalf("error %T %v is not Errors", err, err)
	}
	if len(es) != 3 {
		t.Fatalf("got %d errors, want 3:\n%v", len(es), err)
	}
	for i := 1; i < len(es); i++ {
		if es[i].Pos.Line < es[i-1].Pos.Line || (es[i].Pos.Line == es[i-1].Pos.Line && es[i].Pos.Col < es[i-1].Pos.Col) {
			t.Errorf("errors out of order:\n%v", err)
		}
	}
}

// TestFormatRoundTrip writes every testdata spec and reads it back.
func TestFormatRoundTrip(t *testing.T) {
	files, _ := filepath.Glob("../testdata/check/*.yaml")
	if len(files) < 3 {
		t.Fatalf("only %d specs in testdata", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			s, err := Load(f)
			if err != nil {
				t.Fatalf("load: %v", err)
			}
			out, err := Format(s, "written by a test")
			if err != nil {
				t.Fatalf("format: %v", err)
			}
			back, err := Parse("out.yaml", out)
			if err != nil {
				t.Fatalf("parse formatted spec: %v\n%s", err, out)
			}
			if d := specDiff(s, back); d != "" {
				t.Errorf("round trip differs: %s\n%s", d, out)
			}
		})
	}
}

// TestFilterRoundTrip reads a setup's filter and writes it back.
func TestFilterRoundTrip(t *testing.T) {
	const expr = "udp and not (port 9999 or host 10.0.0.1)"
	s, err := Parse("f.yaml", []byte("setup:\n  filter: "+expr+"\nprobes: []\n"))
	if err != nil {
		t.Fatal(err)
	}
	if s.Setup.Filter != expr {
		t.Fatalf("filter %q, want %q", s.Setup.Filter, expr)
	}
	out, err := Format(s, "")
	if err != nil {
		t.Fatal(err)
	}
	back, err := Parse("out.yaml", out)
	if err != nil || back.Setup.Filter != expr {
		t.Fatalf("formatted and read back: %v, filter %q\n%s", err, back.Setup.Filter, out)
	}
}

// specDiff compares two specs ignoring positions and file names.
func specDiff(a, b *Spec) string {
	ca, cb := stripPos(*a), stripPos(*b)
	if !reflect.DeepEqual(ca, cb) {
		return "specs differ"
	}
	return ""
}

func stripPos(s Spec) Spec {
	s.File = ""
	s.Setup.Pos = Pos{}
	probes := make([]Probe, len(s.Probes))
	for i, p := range s.Probes {
		p.Pos = Pos{}
		exps := make([]Expect, len(p.Expect))
		for k, e := range p.Expect {
			e.Pos, e.TotalPos = Pos{}, Pos{}
			nats := make([]NATPattern, len(e.NAT))
			for m, n := range e.NAT {
				n.Pos = Pos{}
				nats[m] = n
			}
			if e.NAT != nil {
				e.NAT = nats
			}
			var path []Step
			if e.Path != nil {
				path = make([]Step, len(e.Path))
			}
			for m, st := range e.Path {
				st.Pos, st.BudgetPos = Pos{}, Pos{}
				if st.NAT != nil {
					n := *st.NAT
					n.Pos = Pos{}
					st.NAT = &n
				}
				path[m] = st
			}
			e.Path = path
			exps[k] = e
		}
		p.Expect = exps
		probes[i] = p
	}
	s.Probes = probes
	return s
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("err = %v, want not exist", err)
	}
}
