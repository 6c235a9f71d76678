package trace

import (
	"os"
	"testing"

	"github.com/pktlife/pktlife/bpf"
)

// TestStagingKernel checks that the kernel runs a raw_tp program on a
// chosen CPU (every kernel pktlife is tested on has it since 5.10), that
// each CPU's buffer knows its CPU, and that the flush program runs on
// every online CPU.
func TestStagingKernel(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	if err := haveRunOnCPU(); err != nil {
		t.Fatalf("run on a CPU: %v", err)
	}
	objs := armedObjects(t, Options{})
	defer objs.Close()
	s := objs.stage
	if s == nil {
		t.Fatal("staging is off on a kernel that can flush")
	}
	vals := make([]bpf.PktlifeStage, len(s.heads))
	if err := s.m.Lookup(uint32(0), vals); err != nil {
		t.Fatal(err)
	}
	for i, v := range vals {
		if v.Cpu != uint32(i) || v.N != 0 || v.Busy != 0 {
			t.Fatalf("CPU %d's buffer: cpu %d, %d staged, busy %d", i, v.Cpu, v.N, v.Busy)
		}
	}
	for _, cpu := range s.online {
		if ok, err := s.flushCPU(cpu); err != nil || !ok {
			t.Fatalf("flush CPU %d: %v, %v", cpu, ok, err)
		}
	}
	if complete, err := s.flush(^uint64(0)); err != nil || complete != ^uint64(0) {
		t.Fatalf("flush all: %d, %v", complete, err)
	}
}
