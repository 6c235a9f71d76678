package trace

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unsafe"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/pktlife/pktlife/bpf"
)

// Per-CPU staging (bpf/pktlife.c, "staging"): observers write their events
// into a per-CPU buffer of bpf.PktlifeStage, and one ring record carries a
// full buffer, bpf.PktlifeStage's slots one after another. What a CPU left
// in its buffer when its traffic stopped is written out by pl_stage_flush,
// which the reader runs on that CPU before it reads the rings.

// stageEvents is how many events one buffer holds.
const stageEvents = len(bpf.PktlifeStage{}.Ev)

// stageFlushTries is how often a flush is tried on a CPU whose buffer a
// program is writing (the flush interrupted it) before the round gives up.
const stageFlushTries = 4

// stageHead is what the reader reads of a CPU's buffer: how many events it
// holds and the time of the oldest. That is not always the first: a
// program interrupted between its clock read and its write stages its
// event after those of the programs that interrupted it.
type stageHead struct {
	n      uint32
	oldest uint64
}

var (
	stageNOff  = int(unsafe.Offsetof(bpf.PktlifeStage{}.N))
	stageTsOff = int(unsafe.Offsetof(bpf.PktlifeStage{}.Ev) + unsafe.Offsetof(bpf.PktlifeEvent{}.Ts))
)

// UnmarshalBinary reads the head of a buffer from the map's value.
func (h *stageHead) UnmarshalBinary(b []byte) error {
	if len(b) < int(unsafe.Sizeof(bpf.PktlifeStage{})) {
		return errors.New("decode staging buffer: short value")
	}
	h.n = binary.NativeEndian.Uint32(b[stageNOff:])
	h.oldest = ^uint64(0)
	for i := range min(int(h.n), stageEvents) {
		h.oldest = min(h.oldest, binary.NativeEndian.Uint64(b[stageTsOff+i*EventSize:]))
	}
	return nil
}

// stager flushes the CPUs' staging buffers for the reader.
type stager struct {
	m      *ebpf.Map
	prog   *ebpf.Program
	online []int
	heads  []stageHead // one per possible CPU
}

// newStager writes each CPU's number into its buffer and loads the flush
// program; nil when staging is off.
func newStager(o *objects, online []int) (*stager, error) {
	if o.feat.runOnCPU != nil {
		return nil, nil
	}
	ncpu, err := ebpf.PossibleCPU()
	if err != nil {
		return nil, fmt.Errorf("count CPUs: %w", err)
	}
	init := make([]bpf.PktlifeStage, ncpu)
	for i := range init {
		init[i].Cpu = uint32(i)
	}
	if err := o.maps.Staging.Put(uint32(0), init); err != nil {
		return nil, fmt.Errorf("set staging buffers: %w", err)
	}
	prog, err := o.load(bpf.PktlifeProgPlStageFlush, progLoad{})
	if err != nil {
		return nil, fmt.Errorf("load staging flush: %w", err)
	}
	return &stager{m: o.maps.Staging, prog: prog, online: online, heads: make([]stageHead, ncpu)}, nil
}

// flush writes to the rings what CPUs hold staged since before horizon (a
// monotonic time; all of it with horizon ^0). It returns a time before
// which the rings then hold every event that was staged: horizon, or the
// oldest event of a CPU it could not flush.
func (s *stager) flush(horizon uint64) (uint64, error) {
	if s == nil {
		return horizon, nil
	}
	if err := s.m.Lookup(uint32(0), s.heads); err != nil {
		return 0, fmt.Errorf("read staging buffers: %w", err)
	}
	complete := horizon
	for _, cpu := range s.online {
		h := s.heads[cpu]
		if h.n == 0 || h.oldest >= horizon {
			continue
		}
		ok, err := s.flushCPU(cpu)
		if err != nil {
			return 0, err
		}
		if !ok {
			complete = min(complete, h.oldest)
		}
	}
	return complete, nil
}

// flushCPU runs the flush program on cpu; false when a program there kept
// the buffer busy every time.
func (s *stager) flushCPU(cpu int) (bool, error) {
	for range stageFlushTries {
		ret, err := s.prog.Run(&ebpf.RunOptions{Flags: unix.BPF_F_TEST_RUN_ON_CPU, CPU: uint32(cpu)})
		if errors.Is(err, unix.ENXIO) {
			return true, nil // gone offline: its events stay where they are
		}
		if err != nil {
			return false, fmt.Errorf("flush staged events of CPU %d: %w", cpu, err)
		}
		if ret == 0 {
			return true, nil
		}
	}
	return false, nil
}

// Close unloads the flush program.
func (s *stager) Close() error {
	if s == nil {
		return nil
	}
	return s.prog.Close()
}
