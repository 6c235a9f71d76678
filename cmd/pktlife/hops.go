package main

import (
	"encoding/json"
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/pktlife/pktlife/trace"
)

func newHopsCmd() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "hops",
		Short: "List every hop pktlife knows and whether this kernel supports it",
		Long: `hops lists the places pktlife can observe a packet and, for each, whether
the running kernel supports it and by which mechanism. Support is found by
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
				for _, h := range hs {
					if err := enc.Encode(row{h.Name, h.Kind, h.Default, h.Supported, h.Mechanism, h.Reason, h.What}); err != nil {
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
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	return cmd
}
