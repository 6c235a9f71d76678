package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/pktlife/pktlife/trace"
)

func newHopsCmd() *cobra.Command {
	var output string
	var features bool
	cmd := &cobra.Command{
		Use:   "hops",
		Short: "List every hop pktlife knows and whether this kernel supports it",
		Long: `hops lists the places pktlife can observe a packet and, for each, whether
the running kernel supports it and by which mechanism, then the presets
--hops takes by name (default, lean, all). Support is found by
loading and attaching each probe (tc probes in a private namespace made for
the purpose), not by kernel version.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			if err := requireKernel(); err != nil {
				return err
			}
			hs, err := trace.ProbeHops()
			if err != nil {
				return fmt.Errorf("probe hops: %w", err)
			}
			var feats []trace.Feature
			if features || output == "text" {
				if feats, err = trace.ProbeFeatures(); err != nil {
					return fmt.Errorf("probe kernel features: %w", err)
				}
			}
			if output == "json" {
				type row struct {
					Name      string `json:"name"`
					Kind      string `json:"kind"`
					Default   bool   `json:"default"`
					Supported bool   `json:"supported"`
					Mechanism string `json:"mechanism,omitempty"`
					Reason    string `json:"reason,omitempty"`
					What      string `json:"what"`
				}
				enc := json.NewEncoder(os.Stdout)
				if features {
					if err := enc.Encode(row{Name: kernelRelease(), Kind: "kernel", Supported: true, What: "this kernel's release"}); err != nil {
						return err
					}
				}
				for _, h := range hs {
					if err := enc.Encode(row{h.Name, h.Kind, h.Default, h.Supported, h.Mechanism, h.Reason, h.What}); err != nil {
						return err
					}
				}
				for _, f := range feats {
					if err := enc.Encode(row{Name: f.Name, Kind: "feature", Supported: f.Available, What: f.Detail}); err != nil {
						return err
					}
				}
				return nil
			}
			tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "HOP\tKIND\tDEFAULT\tSUPPORTED\tMECHANISM\tWHAT")
			for _, h := range hs {
				sup, mech := "yes", h.Mechanism
				if !h.Supported {
					sup, mech = "no", "-"
				}
				def := ""
				if h.Default {
					def = "yes"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", h.Name, h.Kind, def, sup, mech, h.What)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			for _, h := range hs {
				if !h.Supported {
					fmt.Fprintf(os.Stdout, "  %s: %s\n", h.Name, h.Reason)
				}
			}
			fmt.Fprintln(os.Stdout, "\nPresets (--hops NAME, alone or beside hop names):")
			for _, p := range trace.Presets() {
				fmt.Fprintf(os.Stdout, "  %-8s %s\n", p.Name, p.What)
				if p.Name == "lean" {
					fmt.Fprintf(os.Stdout, "  %-8s %s\n", "", strings.Join(p.Hops, ", "))
				}
			}
			fmt.Fprintln(os.Stdout, "\nKernel features (probed):")
			for _, f := range feats {
				sup := "yes"
				if !f.Available {
					sup = "no "
				}
				fmt.Fprintf(os.Stdout, "  %-26s %s  %s\n", f.Name, sup, f.Detail)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	cmd.Flags().BoolVar(&features, "features", false, "with -o json: also the kernel's release and features (rows of kind kernel and feature)")
	return cmd
}

// kernelRelease is uname -r.
func kernelRelease() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "unknown"
	}
	return unix.ByteSliceToString(u.Release[:])
}
