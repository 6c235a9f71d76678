package demodp

import (
	"encoding/binary"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
)

// TestSizes checks that every generated Go struct has the size its C
// definition has in the object's BTF, so that map values and the config
// variable cross without truncation or holes.
func TestSizes(t *testing.T) {
	demo, err := LoadDemo()
	if err != nil {
		t.Fatalf("load demo spec: %v", err)
	}
	chain, err := LoadChain()
	if err != nil {
		t.Fatalf("load chain spec: %v", err)
	}
	for _, tc := range []struct {
		spec *ebpf.CollectionSpec
		name string
		val  any
	}{
		{demo, "svc_config", DemoSvcConfig{}},
		{demo, "ct_key", DemoCtKey{}},
		{demo, "ct_entry", DemoCtEntry{}},
		{chain, "result", ChainResult{}},
	} {
		var s *btf.Struct
		if err := tc.spec.Types.TypeByName(tc.name, &s); err != nil {
			t.Fatalf("find struct %s: %v", tc.name, err)
		}
		if got := binary.Size(tc.val); got != int(s.Size) {
			t.Errorf("struct %s: Go size %d, C size %d", tc.name, got, s.Size)
		}
	}
	if got, want := demo.Variables["cfg"].Size(), uint32(binary.Size(DemoSvcConfig{})); got != want {
		t.Errorf("variable cfg: size %d, want %d", got, want)
	}
}

// TestPrograms checks that the objects hold the programs and maps the demo
// package and the tracer's tests rely on, with their full names.
func TestPrograms(t *testing.T) {
	demo, err := LoadDemo()
	if err != nil {
		t.Fatalf("load demo spec: %v", err)
	}
	chain, err := LoadChain()
	if err != nil {
		t.Fatalf("load chain spec: %v", err)
	}
	for _, tc := range []struct {
		spec  *ebpf.CollectionSpec
		progs []string
		maps  map[string]ebpf.MapType
	}{
		{demo, []string{"demo_from_pod", "demo_nat", "demo_policy", "demo_from_backend", "demo_rev_nat"},
			map[string]ebpf.MapType{"demo_calls": ebpf.ProgramArray, "demo_stats": ebpf.PerCPUArray, "demo_ct": ebpf.LRUHash}},
		{chain, []string{"chain_entry_classifier", "chain_stage_one_inspect", "chain_alt_rewriter", "chain_stage_two_finalize"},
			map[string]ebpf.MapType{"chain_jmp_a": ebpf.ProgramArray, "chain_jmp_b": ebpf.ProgramArray, "chain_stats": ebpf.PerCPUArray, "chain_results": ebpf.Hash}},
	} {
		for _, name := range tc.progs {
			p := tc.spec.Programs[name]
			if p == nil {
				t.Errorf("program %s missing", name)
				continue
			}
			if p.Type != ebpf.SchedCLS {
				t.Errorf("program %s: type %v, want SchedCLS", name, p.Type)
			}
		}
		for name, typ := range tc.maps {
			m := tc.spec.Maps[name]
			if m == nil {
				t.Errorf("map %s missing", name)
				continue
			}
			if m.Type != typ {
				t.Errorf("map %s: type %v, want %v", name, m.Type, typ)
			}
		}
	}
}
