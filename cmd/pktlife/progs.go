package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/pktlife/pktlife/render"
	"github.com/pktlife/pktlife/trace/progs/discover"
)

func newProgsCmd() *cobra.Command {
	var ifaces []string
	var netns, output string
	var verbose bool
	cmd := &cobra.Command{
		Use:   "progs",
		Short: "Draw the tc programs on each device and their tail-call graph",
		Long: `progs lists, for each device, the BPF programs at tc ingress and egress (tcx
and legacy clsact cls_bpf) and, recursively, the prog_array slots their tail
calls can reach, with full program names from BTF. It only reads.`,
		Example: `  pktlife progs
  pktlife progs --iface 'lxc*' -o json
  pktlife progs --netns /run/netns/pod-a`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			if err := requireRoot(); err != nil {
				return err
			}
			if err := checkNetnsArg(&netns); err != nil {
				return err
			}
			for _, g := range ifaces {
				if _, err := filepath.Match(g, ""); err != nil {
					return usagef("invalid --iface %q: %w", g, err)
				}
			}
			g, err := discover.Graph(cmd.Context(), discover.Options{Netns: netns, Ifaces: ifaces, IncludeEmpty: len(ifaces) > 0})
			if err != nil {
				return fmt.Errorf("discover programs: %w", err)
			}
			if output == "json" {
				return render.WriteProgsJSON(os.Stdout, g)
			}
			return render.WriteProgsTree(os.Stdout, g, render.Options{Color: render.ColorWanted(os.Stdout), Width: termWidth(os.Stdout), Verbose: verbose})
		},
	}
	cmd.Flags().StringArrayVar(&ifaces, "iface", nil, "devices to show (glob, repeatable; default all)")
	cmd.Flags().StringVar(&netns, "netns", "", "network namespace (path or /run/netns name; default the current one)")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "show tags, links, revisions and namespace inodes")
	return cmd
}

// checkNetnsArg resolves a /run/netns name to its path and fails with a
// usage error when the namespace does not exist.
func checkNetnsArg(p *string) error {
	if *p == "" {
		return nil
	}
	if !strings.Contains(*p, "/") {
		*p = filepath.Join("/run/netns", *p)
	}
	if _, err := os.Stat(*p); err != nil {
		return usagef("invalid --netns %q: no such network namespace", *p)
	}
	return nil
}
