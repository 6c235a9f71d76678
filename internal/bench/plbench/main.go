// Command plbench measures what pktlife costs on this machine, in one run,
// and prints each figure against its baseline and its target (make bench).
// It needs root: it builds the demo topology in throwaway namespaces and
// attaches pktlife to it.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/pktlife/pktlife/internal/bench"
)

type config struct {
	rounds   int
	duration time.Duration
	senders  int
	costRate int
	stream   string
	only     string
	verbose  bool
	hops     string
	ring     int
	maxRate  int

	memChild string // internal: run the memory measurement and print JSON
}

func main() {
	var c config
	flag.IntVar(&c.rounds, "rounds", 3, "floods per datapath case (the median is reported)")
	flag.DurationVar(&c.duration, "duration", 3*time.Second, "length of each flood")
	flag.IntVar(&c.senders, "senders", 2, "sending goroutines (sockets) per flood")
	flag.IntVar(&c.costRate, "cost-rate", 50000, "packets/s of the flood for in-kernel cost (0 = unpaced)")
	flag.StringVar(&c.stream, "stream", "testdata/streams/demo.ndjson", "recorded stream for the user-space pipeline")
	flag.StringVar(&c.only, "only", "", "comma-separated sections to run: datapath,kernel,pipeline,loss,attach,memory (default all)")
	flag.BoolVar(&c.verbose, "v", false, "print each flood as it runs")
	flag.StringVar(&c.hops, "hops", "", "comma-separated hops or presets (lean, all) the traced cases attach (default: the default set; the lean cases always attach lean)")
	flag.IntVar(&c.ring, "ring", 0, "ringbuf bytes of the traced cases (default: the tracer's)")
	flag.IntVar(&c.maxRate, "max-rate", 1000, "new packets/s the rate-limited match case follows")
	flag.StringVar(&c.memChild, "memory-child", "", "internal")
	flag.Parse()
	if c.memChild != "" {
		if err := memoryChild(c.memChild); err != nil {
			fmt.Fprintln(os.Stderr, "plbench:", err)
			os.Exit(1)
		}
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, c); err != nil {
		fmt.Fprintln(os.Stderr, "plbench:", err)
		os.Exit(1)
	}
}

func (c config) want(section string) bool {
	if c.only == "" {
		return true
	}
	for _, s := range strings.Split(c.only, ",") {
		if strings.TrimSpace(s) == section {
			return true
		}
	}
	return false
}

func run(ctx context.Context, c config) (err error) {
	r := newReport(os.Stdout)
	r.machine()
	if c.want("pipeline") {
		s, err := bench.LoadStream(c.stream)
		if err != nil {
			return err
		}
		r.pipeline(bench.Pipeline(s), len(s.Events))
	}
	if c.want("memory") {
		var res []bench.MemoryResult
		for _, a := range [][3]int{{100000, 100000, 6}, {1000000, 100000, 6}, {1000000, 0, 6}} {
			m, err := memoryInChild(a[0], a[1], a[2])
			if err != nil {
				return err
			}
			res = append(res, m)
		}
		r.memory(res)
	}
	kernel := c.want("datapath") || c.want("kernel") || c.want("loss") || c.want("attach")
	if !kernel {
		return r.summary()
	}
	if os.Geteuid() != 0 {
		r.line("kernel sections skipped: plbench needs root to build namespaces and attach BPF")
		return r.summary()
	}
	env, err := bench.NewEnv(ctx)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, env.Close()) }()
	if c.hops != "" {
		env.Hops = strings.Split(c.hops, ",")
	}
	env.RingSize = c.ring
	env.MaxRate = c.maxRate
	fo := bench.FloodOptions{Senders: c.senders, Duration: c.duration}
	if c.want("attach") {
		a, err := bench.MeasureAttach(env, 5)
		if err != nil {
			return err
		}
		r.attach(a)
	}
	if c.want("datapath") {
		logf := func(string, ...any) {}
		if c.verbose {
			logf = func(f string, a ...any) { fmt.Fprintf(os.Stderr, "  "+f+"\n", a...) }
		}
		res, err := bench.Datapath(ctx, env, bench.Cases, bench.DatapathOptions{Rounds: c.rounds, Flood: fo, Log: logf})
		if err != nil {
			return err
		}
		r.datapath(res, c)
	}
	if c.want("kernel") {
		cf := fo
		cf.Rate, cf.Duration = c.costRate, min(c.duration, 2*time.Second)
		floor, err := bench.MeasureFloor(ctx, env, cf)
		if err != nil {
			return err
		}
		var costs []bench.KernelCost
		for _, cs := range []bench.Case{bench.NoMatch, bench.MatchAll, bench.Interpose, bench.MatchCapped} {
			k, err := bench.MeasureKernelCost(ctx, env, cs, cf)
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if err != nil {
				r.notRun("2. in-kernel cost, case "+string(cs), err)
				continue
			}
			costs = append(costs, k)
		}
		r.kernel(floor, costs, cf)
	}
	if c.want("loss") {
		lf := fo
		lf.Duration = min(c.duration, 2*time.Second)
		l, err := bench.MeasureLoss(ctx, env, bench.LossOptions{Flood: lf})
		if err != nil {
			return err
		}
		r.loss(l)
	}
	return r.summary()
}

// memoryInChild measures memory in a fresh process, so that its peak RSS
// is the measurement's alone.
func memoryInChild(fed, maxInFlight, hops int) (bench.MemoryResult, error) {
	exe, err := os.Executable()
	if err != nil {
		return bench.MemoryResult{}, fmt.Errorf("find own executable: %w", err)
	}
	cmd := exec.Command(exe, "-memory-child", fmt.Sprintf("%d,%d,%d", fed, maxInFlight, hops))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return bench.MemoryResult{}, fmt.Errorf("run memory measurement: %w", err)
	}
	var m bench.MemoryResult
	if err := json.Unmarshal(out, &m); err != nil {
		return m, fmt.Errorf("read memory measurement: %w", err)
	}
	return m, nil
}

func memoryChild(arg string) error {
	var fed, maxInFlight, hops int
	if _, err := fmt.Sscanf(arg, "%d,%d,%d", &fed, &maxInFlight, &hops); err != nil {
		return fmt.Errorf("parse -memory-child %q: %w", arg, err)
	}
	m := bench.MeasureMemory(fed, maxInFlight, hops)
	if maxInFlight == 0 {
		m.Cap = 65536 // the correlator's default
	}
	return json.NewEncoder(os.Stdout).Encode(m)
}
