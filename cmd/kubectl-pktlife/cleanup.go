package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/pktlife/pktlife/kube"
)

func (a *app) cleanupCmd() *cobra.Command {
	var all, dryRun bool
	cmd := &cobra.Command{
		Use:   "cleanup",
		Short: "Delete node pods left behind by an interrupted trace",
		Long: `kubectl pktlife deletes its node pods when a trace ends or is interrupted.
If the plugin itself was killed, they stay until their deadline
(activeDeadlineSeconds) ends them; cleanup deletes them now. It selects
pods labelled ` + kube.Selector + `.`,
		Example: `  kubectl pktlife cleanup -A
  kubectl pktlife cleanup -n kube-system --dry-run`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, ns, err := a.newClient()
			if err != nil {
				return err
			}
			if all {
				ns = ""
			}
			names, err := kube.Cleanup(cmd.Context(), c, ns, dryRun)
			verb := "deleted"
			if dryRun {
				verb = "would delete"
			}
			for _, n := range names {
				fmt.Fprintf(a.stdout, "%s pod %s\n", verb, n)
			}
			if len(names) == 0 {
				fmt.Fprintln(a.stderr, "kubectl-pktlife: no node pods found")
			}
			return err
		},
	}
	cmd.Flags().BoolVarP(&all, "all-namespaces", "A", false, "Look in every namespace")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "Only list the pods")
	return cmd
}
