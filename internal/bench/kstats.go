package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/pktlife/pktlife/trace"
)

// ProgRun is a program's activations and time in the kernel over a window.
type ProgRun struct {
	Name    string
	ID      ebpf.ProgramID
	Runs    uint64
	Runtime time.Duration
	Misses  uint64 // activations the kernel skipped (recursion)
}

// PerRun is the mean time of one activation.
func (p ProgRun) PerRun() time.Duration {
	if p.Runs == 0 {
		return 0
	}
	return p.Runtime / time.Duration(p.Runs)
}

// KernelCost is what pktlife's programs cost during one flood.
type KernelCost struct {
	Case     Case
	Progs    []ProgRun // by name
	Counters trace.KernelCounters
	Flood    FloodResult
}

// Total sums runs and time over pktlife's programs.
func (k KernelCost) Total() ProgRun {
	t := ProgRun{Name: "all"}
	for _, p := range k.Progs {
		if p.Name == DatapathEntry {
			continue
		}
		t.Runs += p.Runs
		t.Runtime += p.Runtime
	}
	return t
}

// PerEvent is the kernel time per event the programs tried to write
// (emitted or lost): what following a packet costs per hop.
func (k KernelCost) PerEvent() time.Duration {
	n := k.Counters.Emitted + k.Counters.Lost
	if n == 0 {
		return 0
	}
	return k.Total().Runtime / time.Duration(n)
}

// runStats reads run counts and time of the programs.
func runStats(ids map[string]ebpf.ProgramID) (map[string]ProgRun, error) {
	out := make(map[string]ProgRun, len(ids))
	for name, id := range ids {
		p, err := ebpf.NewProgramFromID(id)
		if err != nil {
			return nil, fmt.Errorf("open program %s: %w", name, err)
		}
		st, err := p.Stats()
		p.Close()
		if err != nil {
			return nil, fmt.Errorf("read run statistics of %s: %w", name, err)
		}
		out[name] = ProgRun{Name: name, ID: id, Runs: st.RunCount, Runtime: st.Runtime, Misses: st.RecursionMisses}
	}
	return out, nil
}

// EnableRunStats turns on the kernel's BPF run-time statistics for as long
// as the returned closer is open (BPF_ENABLE_STATS: not the global sysctl,
// so nothing stays on if the process dies).
func EnableRunStats() (io.Closer, error) {
	c, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
	if err != nil {
		return nil, fmt.Errorf("enable BPF run-time statistics: %w", err)
	}
	return c, nil
}

// MeasureKernelCost attaches the tracer for a case, floods with the kernel's
// run-time statistics on, and returns each program's activations and time
// during the flood. The statistics cost time themselves (two clock reads
// per activation), so they are on only here, never while the datapath
// rate is measured.
func MeasureKernelCost(ctx context.Context, env *Env, c Case, fo FloodOptions) (_ KernelCost, err error) {
	res := KernelCost{Case: c}
	opts, err := env.TracerOptions(c)
	if err != nil {
		return res, err
	}
	t, err := StartTracer(opts)
	if err != nil {
		return res, err
	}
	defer func() { err = errors.Join(err, t.Stop()) }()
	ids, err := t.Tracer.ProgramIDs()
	if err != nil {
		return res, err
	}
	// Tail-called programs (the shims among them) have no statistics of
	// their own: the kernel counts a chain's time to the program the hook
	// ran. The datapath's entry program shows what the shims add.
	dp, err := progID(env.Datapath.Objects.DemoFromPod)
	if err != nil {
		return res, err
	}
	ids[DatapathEntry] = dp
	stats, err := EnableRunStats()
	if err != nil {
		return res, err
	}
	defer stats.Close()
	before, err := runStats(ids)
	if err != nil {
		return res, err
	}
	k0 := t.Tracer.KernelCounters()
	if res.Flood, err = env.Flood(ctx, fo); err != nil {
		return res, err
	}
	k1 := t.Tracer.KernelCounters()
	after, err := runStats(ids)
	if err != nil {
		return res, err
	}
	for name, a := range after {
		b := before[name]
		res.Progs = append(res.Progs, ProgRun{Name: name, ID: a.ID, Runs: a.Runs - b.Runs, Runtime: a.Runtime - b.Runtime, Misses: a.Misses - b.Misses})
	}
	slices.SortFunc(res.Progs, func(a, b ProgRun) int {
		if a.Name < b.Name {
			return -1
		}
		if a.Name > b.Name {
			return 1
		}
		return 0
	})
	res.Counters = trace.KernelCounters{
		Emitted: k1.Emitted - k0.Emitted,
		Lost:    k1.Lost - k0.Lost,
		Matched: k1.Matched - k0.Matched,
	}
	return res, nil
}

// DatapathEntry names the demo datapath's entry program (with its tail
// calls, shims included) among a KernelCost's programs.
const DatapathEntry = "datapath:demo_from_pod"

func progID(p *ebpf.Program) (ebpf.ProgramID, error) {
	info, err := p.Info()
	if err != nil {
		return 0, fmt.Errorf("read program info: %w", err)
	}
	id, ok := info.ID()
	if !ok {
		return 0, fmt.Errorf("read program id: %w", ebpf.ErrNotSupported)
	}
	return id, nil
}

// Prog finds a program's figures by name.
func (k KernelCost) Prog(name string) (ProgRun, bool) {
	for _, p := range k.Progs {
		if p.Name == name {
			return p, true
		}
	}
	return ProgRun{}, false
}
