package bench

import (
	"context"
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
)

// The kernel's run-time statistics time each activation with two clock
// reads around the program, and part of that cost lands inside the window:
// an empty program does not measure zero. MeasureFloor finds what an empty
// program on one of pktlife's tracepoints measures during the same flood,
// so that reports can show pktlife's own cost over that floor.

// floorTracepoint is where the empty program sits: fired once or more per
// packet on the flood's path, like pktlife's own tracepoint programs.
const floorTracepoint = "netif_receive_skb"

// MeasureFloor attaches an empty tp_btf program, floods with run-time
// statistics on, and returns its activations and time.
func MeasureFloor(ctx context.Context, env *Env, fo FloodOptions) (_ ProgRun, err error) {
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name:       "pl_bench_empty",
		Type:       ebpf.Tracing,
		AttachType: ebpf.AttachTraceRawTp,
		AttachTo:   floorTracepoint,
		License:    "GPL",
		Instructions: asm.Instructions{
			asm.Mov.Imm(asm.R0, 0),
			asm.Return(),
		},
	})
	if err != nil {
		return ProgRun{}, fmt.Errorf("load empty program: %w", err)
	}
	defer prog.Close()
	lk, err := link.AttachTracing(link.TracingOptions{Program: prog})
	if err != nil {
		return ProgRun{}, fmt.Errorf("attach empty program to %s: %w", floorTracepoint, err)
	}
	defer func() { err = errors.Join(err, lk.Close()) }()
	stats, err := EnableRunStats()
	if err != nil {
		return ProgRun{}, err
	}
	defer stats.Close()
	before, err := prog.Stats()
	if err != nil {
		return ProgRun{}, fmt.Errorf("read empty program stats: %w", err)
	}
	if _, err := env.Flood(ctx, fo); err != nil {
		return ProgRun{}, err
	}
	after, err := prog.Stats()
	if err != nil {
		return ProgRun{}, fmt.Errorf("read empty program stats: %w", err)
	}
	return ProgRun{Name: "empty tp_btf/" + floorTracepoint, Runs: after.RunCount - before.RunCount,
		Runtime: after.Runtime - before.Runtime}, nil
}
