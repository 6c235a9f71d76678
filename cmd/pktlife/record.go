package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/pktlife/pktlife/check"
	"github.com/pktlife/pktlife/check/runner"
	"github.com/pktlife/pktlife/trace"
	"github.com/pktlife/pktlife/trace/tailcall/mode"
)

// recordFlags are the command line of `pktlife record`.
type recordFlags struct {
	demo         bool
	specOut      string
	allHops      bool
	keepNames    bool
	budgetFactor float64
	budgetFloor  time.Duration
	packets      []string
	verbose      bool
	legacyTC     bool
	tailCalls    string
	timeout      time.Duration
	waitBusy     time.Duration
	prefix       string
}

func newRecordCmd() *cobra.Command {
	var f recordFlags
	cmd := &cobra.Command{
		Use:   "record [SPEC] [--demo]",
		Short: "Send probes and write a spec from the paths their packets took",
		Long: `record sends the probes of SPEC (a spec whose probes need not have
expectations yet), or with --demo the demo's own probes against the demo
topology and datapath, traces their packets and writes a spec that expects
exactly what was observed — ready for pktlife check.

What changes from run to run is loosened: random parts of device, namespace
and map names become globs, ephemeral NAT ports are left out, only the key
hops are written (the first, every tc hook, the decisive one) with "..."
gaps between them, and times get no budget unless --budget-factor is given.`,
		Example: `  pktlife record --demo --spec-out demo.yaml
  pktlife record probes.yaml --budget-factor 20 --spec-out node.yaml`,
		Args: usageArgs(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			spec, ro, err := f.parse(args)
			if err != nil {
				return err
			}
			if err := requireRoot(); err != nil {
				return err
			}
			if err := requireBTF(); err != nil {
				return err
			}
			return runRecord(cmd, spec, ro, &f)
		},
	}
	fl := cmd.Flags()
	fl.BoolVar(&f.demo, "demo", false, "record the demo's probes against the demo topology and datapath")
	fl.StringVar(&f.specOut, "spec-out", "-", "where to write the spec (- for stdout)")
	fl.BoolVar(&f.allHops, "all-hops", false, "write every hop, with no gaps (strict; tracepoint noise then fails checks)")
	fl.BoolVar(&f.keepNames, "keep-names", false, "write device, namespace and map names exactly, without globs")
	fl.Float64Var(&f.budgetFactor, "budget-factor", 0, "write latency budgets: observed times this factor (e.g. 20); 0 = no budgets")
	fl.DurationVar(&f.budgetFloor, "budget-floor", check.DefaultBudgetFloor, "the smallest budget written")
	fl.StringSliceVar(&f.packets, "packets", nil, "packets to record for probes without expectations: first, reply (default both, reply when seen)")
	fl.BoolVarP(&f.verbose, "verbose", "v", false, "report attachments and probes on stderr")
	fl.BoolVar(&f.legacyTC, "legacy-tc", false, "attach with clsact+cls_bpf even where tcx works")
	fl.StringVar(&f.tailCalls, "tail-calls", "", "tail-call tracing: "+mode.List(mode.Auto, mode.Interpose, mode.Off)+" (default: the spec's; interpose with --demo)")
	fl.StringVar(&f.prefix, "demo-prefix", "", "name the demo's namespaces <prefix>-<random>-{node,poda,podb} (default pktlife-demo; recorded specs name it in their netns globs)")
	fl.DurationVar(&f.waitBusy, "wait-busy", 0, "wait this long for another pktlife that is interposing tail calls (only one may at a time)")
	fl.DurationVar(&f.timeout, "timeout", 0, "wait at most this long for each probe's journeys (default 3s)")
	return cmd
}

// parse validates the flags and reads the input spec.
func (f *recordFlags) parse(args []string) (*check.Spec, runner.RecordOptions, error) {
	ro := runner.RecordOptions{RecordOptions: check.RecordOptions{
		AllHops: f.allHops, KeepNames: f.keepNames, BudgetFactor: f.budgetFactor, BudgetFloor: f.budgetFloor,
	}}
	if f.budgetFactor < 0 {
		return nil, ro, usagef("invalid --budget-factor %g: want a positive factor, or 0 for no budgets", f.budgetFactor)
	}
	if f.budgetFloor <= 0 {
		return nil, ro, usagef("invalid --budget-floor %s: want a positive duration", f.budgetFloor)
	}
	if f.timeout < 0 {
		return nil, ro, usagef("invalid --timeout %s: want a positive duration", f.timeout)
	}
	for _, p := range f.packets {
		switch strings.TrimSpace(p) {
		case "first", "syn":
			ro.Packets = append(ro.Packets, check.PacketFirst)
		case "reply", "synack":
			ro.Packets = append(ro.Packets, check.PacketReply)
		default:
			return nil, ro, usagef("invalid --packets %q: want first or reply", p)
		}
	}
	switch {
	case f.demo && len(args) > 0:
		return nil, ro, usagef("give either a SPEC or --demo, not both")
	case f.demo:
		if f.tailCalls == "" {
			f.tailCalls = trace.TailCallsInterpose
		}
		return runner.DemoProbes(), ro, nil
	case len(args) == 0:
		return nil, ro, usagef("give a SPEC with probes, or --demo")
	}
	spec, err := check.Load(args[0])
	if err != nil {
		return nil, ro, usageError{err}
	}
	if len(spec.Probes) == 0 {
		return nil, ro, usagef("%s has no probes to record", args[0])
	}
	return spec, ro, nil
}

func runRecord(cmd *cobra.Command, spec *check.Spec, ro runner.RecordOptions, f *recordFlags) error {
	got, err := runner.Record(cmd.Context(), spec, runOptions(f.verbose, f.legacyTC, f.tailCalls, f.prefix, f.timeout, f.waitBusy), ro)
	if err != nil {
		if errors.Is(err, runner.ErrNoJourney) {
			return fmt.Errorf("record %s: %w", spec.File, err)
		}
		return classifyRun(fmt.Errorf("record %s: %w", spec.File, err))
	}
	comment := fmt.Sprintf("pktlife path spec, recorded by `pktlife record` on %s.\nCheck it with: pktlife check FILE", time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	out, err := check.Format(got, comment)
	if err != nil {
		return err
	}
	if f.specOut == "-" {
		_, err = os.Stdout.Write(out)
		return err
	}
	if err := os.WriteFile(f.specOut, out, 0o644); err != nil {
		return fmt.Errorf("write spec: %w", err)
	}
	fmt.Fprintf(os.Stderr, "pktlife record: wrote %d probes to %s\n", len(got.Probes), f.specOut)
	return nil
}
