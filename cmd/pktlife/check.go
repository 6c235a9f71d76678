package main

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/pktlife/pktlife/check"
	"github.com/pktlife/pktlife/check/runner"
	"github.com/pktlife/pktlife/render"
	"github.com/pktlife/pktlife/trace"
	"github.com/pktlife/pktlife/trace/tailcall/mode"
)

// checkFlags are the command line of `pktlife check`.
type checkFlags struct {
	junit     string
	output    string
	verbose   bool
	legacyTC  bool
	tailCalls string
	timeout   time.Duration
	waitBusy  time.Duration
	prefix    string
}

func newCheckCmd() *cobra.Command {
	var f checkFlags
	cmd := &cobra.Command{
		Use:   "check SPEC",
		Short: "Send a spec's probes and fail when a packet's path differs from the spec",
		Long: `check reads a path spec (see docs/check.md), sets up what it asks for (the
demo topology and datapath, listeners), attaches the tracer, sends each probe,
and compares the journeys of its packets with the expected paths: hops and
gaps, tail-call chains, NAT, fate and latency budgets.

For each probe and packet it prints PASS or FAIL; for a failure the first
divergence and the expected and actual paths side by side. Exit status: 0
when every probe passed, 1 when any failed, 2 when the spec is invalid or
the check could not run (a probe could not be sent, the tracer could not
attach).`,
		Example: `  pktlife record --demo --spec-out demo.yaml
  pktlife check demo.yaml
  pktlife check demo.yaml --junit report.xml -o json > report.json`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if f.output != "text" && f.output != "json" {
				return usagef("invalid --output %q: want text or json", f.output)
			}
			if f.timeout < 0 {
				return usagef("invalid --timeout %s: want a positive duration", f.timeout)
			}
			spec, err := check.Load(args[0])
			if err != nil {
				return usageError{err}
			}
			if err := spec.RequireExpectations(); err != nil {
				return usageError{err}
			}
			if err := requireRoot(); err != nil {
				return err
			}
			if err := requireBTF(); err != nil {
				return err
			}
			return runCheck(cmd, spec, &f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.junit, "junit", "", "also write the results as JUnit XML to this file")
	fl.StringVarP(&f.output, "output", "o", "text", "output format: text or json")
	fl.BoolVarP(&f.verbose, "verbose", "v", false, "draw passing paths too, and report attachments and probes on stderr")
	fl.BoolVar(&f.legacyTC, "legacy-tc", false, "attach with clsact+cls_bpf even where tcx works")
	fl.StringVar(&f.tailCalls, "tail-calls", "", "override the spec's tail_calls: "+mode.List(mode.Auto, mode.Interpose, mode.Off))
	fl.StringVar(&f.prefix, "demo-prefix", "", "name the demo's namespaces <prefix>-<random>-{node,poda,podb} (default pktlife-demo; recorded specs name it in their netns globs)")
	fl.DurationVar(&f.waitBusy, "wait-busy", 0, "wait this long for another pktlife that is interposing tail calls (only one may at a time)")
	fl.DurationVar(&f.timeout, "timeout", 0, "override the spec's wait for each probe's journeys (default 3s)")
	return cmd
}

// runOptions turns the shared flags into runner.Options.
func runOptions(verbose, legacyTC bool, tailCalls, prefix string, timeout, waitBusy time.Duration) runner.Options {
	o := runner.Options{LegacyTC: legacyTC, TailCalls: tailCalls, DemoPrefix: prefix, Timeout: timeout, WaitBusy: waitBusy}
	if verbose {
		o.Log = os.Stderr
		o.OnAttached = func(as []trace.Attachment) { reportAttached(os.Stderr, as) }
	}
	return o
}

// usageArgs makes a wrong number of arguments a usage error (exit 2).
func usageArgs(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := check(cmd, args); err != nil {
			return usageError{err}
		}
		return nil
	}
}

// classifyRun maps a run's errors to exit statuses: setup problems are 2.
func classifyRun(err error) error {
	var ue usageError
	if errors.As(err, &ue) {
		return err
	}
	err = inFlagTerms(err)
	for _, target := range []error{runner.ErrSetup, check.ErrInvalid, trace.ErrBadOption, trace.ErrNoDevice, trace.ErrNetnsNotFound} {
		if errors.Is(err, target) {
			return exitError{exitUsage, err}
		}
	}
	return err
}

func runCheck(cmd *cobra.Command, spec *check.Spec, f *checkFlags) error {
	rep, err := runner.Check(cmd.Context(), spec, runOptions(f.verbose, f.legacyTC, f.tailCalls, f.prefix, f.timeout, f.waitBusy))
	if err != nil {
		return classifyRun(fmt.Errorf("check %s: %w", spec.File, err))
	}
	if f.junit != "" {
		if err := writeJUnit(f.junit, rep); err != nil {
			return exitError{exitUsage, err}
		}
	}
	if f.output == "json" {
		err = render.WriteCheckJSON(os.Stdout, rep)
	} else {
		err = render.WriteCheck(os.Stdout, rep, render.Options{Color: render.ColorWanted(os.Stdout), Width: termWidth(os.Stdout), Verbose: f.verbose})
	}
	if err != nil {
		return err
	}
	if !rep.Passed() {
		_, fail := rep.Counts()
		return exitError{exitFailure, fmt.Errorf("%d of %d probes failed", fail, len(rep.Probes))}
	}
	return nil
}

func writeJUnit(name string, rep *check.Report) (err error) {
	out, err := os.Create(name)
	if err != nil {
		return fmt.Errorf("write junit: %w", err)
	}
	defer func() {
		if cerr := out.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("write junit: %w", cerr)
		}
	}()
	return render.WriteCheckJUnit(out, rep)
}
