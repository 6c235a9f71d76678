package trace

import (
	"fmt"

	"github.com/cilium/ebpf"

	"github.com/pktlife/pktlife/bpf"
)

// ProgramIDs returns the kernel IDs of the BPF programs the tracer loaded,
// by program name (pl_tp_netif_rx, pl_tc_ingress, …): what the kernel's
// run-time statistics (ebpf.EnableStats, bpftool prog show) are keyed by.
// It is empty after Close.
func (t *Tracer) ProgramIDs() (map[string]ebpf.ProgramID, error) {
	out := map[string]ebpf.ProgramID{}
	for _, c := range t.closers {
		p, ok := c.(*ebpf.Program)
		if !ok {
			continue
		}
		info, err := p.Info()
		if err != nil {
			return nil, fmt.Errorf("read program info: %w", err)
		}
		id, ok := info.ID()
		if !ok {
			return nil, fmt.Errorf("read program id of %s: %w", info.Name, ebpf.ErrNotSupported)
		}
		out[info.Name] = id
	}
	return out, nil
}

// KernelCounters are the kernel side's own counters, summed over CPUs.
type KernelCounters struct {
	Emitted uint64 // events written into the ringbuf
	Lost    uint64 // events that found the ringbuf full
	Matched uint64 // packets that matched the filter
}

// KernelCounters reads the kernel's counters. Every event the kernel tried
// to write is either Emitted or Lost; the events Run reads (Stats().Events)
// come to Emitted once the ringbuf is drained. After Close, their values
// at Close.
func (t *Tracer) KernelCounters() KernelCounters {
	return KernelCounters{
		Emitted: t.kernelStat(bpf.PktlifePlStatPL_STAT_EMITTED),
		Lost:    t.kernelStat(bpf.PktlifePlStatPL_STAT_LOST),
		Matched: t.kernelStat(bpf.PktlifePlStatPL_STAT_MATCHED),
	}
}
