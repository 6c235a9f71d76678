package main

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"sort"
	"time"

	"github.com/spf13/cobra"

	"github.com/pktlife/pktlife/demo"
	"github.com/pktlife/pktlife/render"
	"github.com/pktlife/pktlife/trace"
	"github.com/pktlife/pktlife/trace/journey"
)

func newDemoCmd() *cobra.Command {
	var out outputFlags
	var legacy bool
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Build a throwaway pod-to-service topology, send packets and show their journeys",
		Long: `demo creates three private network namespaces — pod A, a node and pod B —
joined by veth pairs, loads a small tail-calling tc datapath (it DNATs the
service 10.96.0.10:80 to pod B:8080, redirects with bpf_redirect_neigh and
drops port 9999 by policy), sends UDP and TCP packets from pod A, traces them
and prints their journeys. Everything it creates is removed at exit.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := out.validate(); err != nil {
				return err
			}
			if err := requireKernel(); err != nil {
				return err
			}
			r, err := out.open(os.Stdout, "pktlife demo")
			if err != nil {
				return err
			}
			err = runDemo(cmd.Context(), r, legacy, out.capture())
			return errors.Join(err, r.Close())
		},
	}
	out.register(cmd.Flags())
	cmd.Flags().BoolVar(&legacy, "legacy-tc", false, "attach the demo datapath and pktlife with clsact+cls_bpf instead of tcx")
	return cmd
}

// demoProbe is one packet the demo sends.
type demoProbe struct {
	what string
	send func(ctx context.Context, topo *demo.Topology) error
}

func demoProbes() []demoProbe {
	return []demoProbe{
		{"UDP to the service VIP, DNATed to pod B and answered", func(ctx context.Context, topo *demo.Topology) error {
			_, err := demo.UDPRoundTrip(ctx, topo.PodA.Path, topo.Service, []byte("hello over udp"))
			return err
		}},
		{"TCP connection to the service VIP", func(ctx context.Context, topo *demo.Topology) error {
			_, err := demo.TCPRoundTrip(ctx, topo.PodA.Path, topo.Service, []byte("hello over tcp"))
			return err
		}},
		{"UDP to port 9999, dropped by policy", func(ctx context.Context, topo *demo.Topology) error {
			return demo.SendUDP(ctx, topo.PodA.Path, netip.AddrPortFrom(demo.ServiceAddr, demo.DenyPort), []byte("denied"))
		}},
	}
}

func runDemo(ctx context.Context, out render.Renderer, legacy bool, snaplen int) (err error) {
	started := time.Now()
	var undone []string
	if gone, err := demo.CleanupLeftovers(undoDemoState(&undone)); err == nil && len(gone) > 0 {
		fmt.Fprintf(os.Stderr, "removed %d namespaces left by an earlier demo that was killed\n", len(gone))
	}
	fmt.Fprintln(os.Stderr, "building the demo: pod A → node → pod B in private network namespaces")
	topo, err := demo.NewTopology(ctx, demo.Options{})
	if err != nil {
		return fmt.Errorf("build topology: %w", err)
	}
	defer func() { err = errors.Join(err, topo.Close()) }()
	dp, err := demo.LoadDatapath(topo, demo.DatapathOptions{Legacy: legacy})
	if err != nil {
		return fmt.Errorf("load demo datapath: %w", err)
	}
	defer func() { err = errors.Join(err, dp.Close()) }()

	udp, err := demo.StartUDPEcho(ctx, topo.PodB.Path, topo.Backend())
	if err != nil {
		return fmt.Errorf("start udp server: %w", err)
	}
	defer udp.Close()
	tcp, err := demo.StartTCPEcho(ctx, topo.PodB.Path, topo.Backend())
	if err != nil {
		return fmt.Errorf("start tcp server: %w", err)
	}
	defer tcp.Close()

	var nss []string
	for _, n := range topo.Namespaces() {
		nss = append(nss, n.Path)
	}
	tr, err := trace.New(trace.Options{
		Filter:    trace.Filter{Host: netip.PrefixFrom(topo.PodA.IP(), 32)},
		Netns:     nss,
		LegacyTC:  legacy,
		TailCalls: trace.TailCallsInterpose,
		Snaplen:   snaplen,
		StateDir:  topo.StateDir(), // its own datapath only: no other pktlife to wait for
	})
	if err != nil {
		return fmt.Errorf("start tracer: %w", err)
	}
	defer func() {
		err = errors.Join(err, tr.Close())
		reportNotices(os.Stderr, tr)
	}()
	reportAttached(os.Stderr, tr.Attached())
	reportNotices(os.Stderr, tr)

	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	var journeys []*journey.Journey
	done := make(chan error, 1)
	go func() {
		done <- tr.Run(runCtx, func(j *journey.Journey) bool {
			journeys = append(journeys, j)
			return true
		})
	}()

	for _, p := range demoProbes() {
		pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		perr := p.send(pctx, topo)
		cancel()
		status := "ok"
		if perr != nil {
			status = perr.Error()
		}
		fmt.Fprintf(os.Stderr, "sent: %-52s %s\n", p.what, status)
		if ctx.Err() != nil {
			break
		}
	}
	waitQuiet(ctx, tr)
	stopRun()
	if err := <-done; err != nil {
		return fmt.Errorf("trace: %w", err)
	}
	sort.Slice(journeys, func(a, b int) bool { return journeys[a].Start < journeys[b].Start })
	for i, j := range journeys {
		j.ID = uint64(i + 1) // in the order the packets were sent
		if err := out.Journey(j); err != nil {
			return fmt.Errorf("render: %w", err)
		}
	}
	s := tr.Stats()
	render.WriteSummary(os.Stderr, render.Summary{Journeys: uint64(len(journeys)), Events: s.Events, Lost: s.Lost, Evicted: s.Evicted, Duration: time.Since(started)},
		render.Options{Color: render.ColorWanted(os.Stderr)})
	return nil
}

// waitQuiet waits until no event arrived for 200 ms and the tracer holds no
// open journey, at most 3 s.
func waitQuiet(ctx context.Context, tr *trace.Tracer) {
	deadline := time.After(3 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	last, quiet := tr.Stats().Events, 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-deadline:
			return
		case <-tick.C:
		}
		s := tr.Stats()
		if s.Events != last || s.InFlight != 0 {
			last, quiet = s.Events, 0
			continue
		}
		if quiet++; quiet >= 4 {
			return
		}
	}
}
