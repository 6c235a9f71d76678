package demodp

import (
	"errors"
	"os"
	"testing"

	"github.com/cilium/ebpf"
)

// TestLoadKernel loads both objects into the running kernel, so the
// verifier sees every program (root only).
func TestLoadKernel(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("loading BPF programs needs root")
	}
	spec, err := LoadDemo()
	if err != nil {
		t.Fatalf("load demo spec: %v", err)
	}
	cfg := DemoSvcConfig{SvcPort: 80, BackendPort: 8080, DenyPort: 9999, ClientIfindex: 1, BackendIfindex: 1}
	if err := spec.Variables["cfg"].Set(cfg); err != nil {
		t.Fatalf("set cfg: %v", err)
	}
	var demo DemoObjects
	if err := spec.LoadAndAssign(&demo, nil); err != nil {
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			t.Fatalf("load demo: %+v", ve)
		}
		t.Fatalf("load demo: %v", err)
	}
	t.Cleanup(func() { demo.Close() })

	var chain ChainObjects
	if err := LoadChainObjects(&chain, nil); err != nil {
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			t.Fatalf("load chain: %+v", ve)
		}
		t.Fatalf("load chain: %v", err)
	}
	t.Cleanup(func() { chain.Close() })

	for slot, prog := range map[uint32]*ebpf.Program{
		uint32(DemoSlotDEMO_SLOT_NAT):     demo.DemoNat,
		uint32(DemoSlotDEMO_SLOT_POLICY):  demo.DemoPolicy,
		uint32(DemoSlotDEMO_SLOT_REV_NAT): demo.DemoRevNat,
	} {
		if err := demo.DemoCalls.Put(slot, prog); err != nil {
			t.Fatalf("put demo_calls[%d]: %v", slot, err)
		}
	}
	if err := chain.ChainJmpA.Put(uint32(ChainJumpSlotCHAIN_A_FINAL), chain.ChainStageTwoFinalize); err != nil {
		t.Fatalf("put chain_jmp_a: %v", err)
	}
	if err := chain.ChainJmpB.Put(uint32(ChainJumpSlotCHAIN_B_FINAL), chain.ChainStageTwoFinalize); err != nil {
		t.Fatalf("put chain_jmp_b: %v", err)
	}
}
