package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/pktlife/pktlife/trace"
)

func newCleanupCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "cleanup",
		Short: "Remove what a killed pktlife left behind",
		Long: `cleanup removes what a pktlife process that was killed (SIGKILL, a crash)
could leave: its legacy cls_bpf observer filters, in the current namespace and
every one under /run/netns. tcx and tracepoint attachments go away with the
process by themselves. It is safe to run at any time.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := requireRoot(); err != nil {
				return err
			}
			rep, err := trace.Cleanup()
			for _, r := range rep {
				fmt.Fprintln(os.Stdout, r)
			}
			if err != nil {
				return fmt.Errorf("cleanup: %w", err)
			}
			if len(rep) == 0 {
				fmt.Fprintln(os.Stdout, "nothing to clean up")
			}
			return nil
		},
	}
}
