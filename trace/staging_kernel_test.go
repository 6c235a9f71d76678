package trace

import (
	"os"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/pktlife/pktlife/bpf"
	"github.com/pktlife/pktlife/filter/filtertest"
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

// TestStageSocketSend checks the socket-send observer built for kernels
// with BPF atomics (it may be preempted, so it claims the staging buffer
// with a compare-and-exchange): its event is staged, and when the buffer
// is held it leaves the holder's flag alone and writes to its ring.
func TestStageSocketSend(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	if err := haveAtomics(); err != nil {
		t.Skipf("socket sends write to the ring directly here: %v", err)
	}
	objs := armedObjects(t, Options{})
	defer objs.Close()
	s := objs.stage
	if s == nil {
		t.Fatal("staging is off on a kernel that can flush")
	}
	p, err := objs.load(bpf.PktlifeProgPlSockEgressCas, progLoad{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	frame := filtertest.Frame(&filtertest.Packets()[0])
	run := func() {
		t.Helper()
		if _, err := p.Run(&ebpf.RunOptions{Data: frame}); err != nil {
			t.Fatalf("run socket-send observer: %v", err)
		}
	}
	bufs := func() (staged uint32, busy []uint64) {
		t.Helper()
		vals := make([]bpf.PktlifeStage, len(s.heads))
		if err := s.m.Lookup(uint32(0), vals); err != nil {
			t.Fatal(err)
		}
		for _, v := range vals {
			staged += v.N
			busy = append(busy, v.Busy)
		}
		return staged, busy
	}
	emitted := func() uint64 {
		t.Helper()
		var per []uint64
		if err := objs.maps.Stats.Lookup(uint32(bpf.PktlifePlStatPL_STAT_EMITTED), &per); err != nil {
			t.Fatal(err)
		}
		var n uint64
		for _, v := range per {
			n += v
		}
		return n
	}

	run()
	staged, busy := bufs()
	if staged != 1 || emitted() != 0 {
		t.Fatalf("free buffer: %d events staged, %d written to the rings; want 1 and 0", staged, emitted())
	}
	for cpu, b := range busy {
		if b != 0 {
			t.Fatalf("CPU %d's buffer left claimed (%d)", cpu, b)
		}
	}

	// every CPU's buffer held, as by a program the observer preempted
	held := make([]bpf.PktlifeStage, len(s.heads))
	if err := s.m.Lookup(uint32(0), held); err != nil {
		t.Fatal(err)
	}
	for i := range held {
		held[i].Busy = 1
	}
	if err := s.m.Update(uint32(0), held, ebpf.UpdateExist); err != nil {
		t.Fatal(err)
	}
	run()
	staged, busy = bufs()
	if staged != 1 || emitted() != 1 {
		t.Fatalf("held buffer: %d events staged, %d written to the rings; want 1 and 1", staged, emitted())
	}
	for cpu, b := range busy {
		if b != 1 {
			t.Fatalf("CPU %d's holder lost its claim (%d)", cpu, b)
		}
	}
}
