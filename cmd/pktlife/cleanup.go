package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/pktlife/pktlife/demo"
	"github.com/pktlife/pktlife/trace"
)

func newCleanupCmd() *cobra.Command {
	var stateDir string
	cmd := &cobra.Command{
		Use:   "cleanup",
		Short: "Remove what a killed pktlife left behind",
		Long: `cleanup removes what a pktlife process that was killed (SIGKILL, a crash)
could leave: the tail-call slots it interposed (restored from the journal in
the node's bpffs, whichever mount namespace or container that pktlife ran in),
its legacy cls_bpf observer filters, in the current namespace and every one
under the node's /run/netns, and the namespaces of a demo topology whose
process died. tcx and tracepoint attachments go away with the process by
themselves. It works from any mount namespace of the node (ip netns exec,
unshare -m, a privileged container with the host's PID namespace or its
/sys/fs/bpf). It is safe to run at any time: what a live pktlife holds is left
alone.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := requireRoot(); err != nil {
				return err
			}
			rep, err := trace.Cleanup(stateDir)
			gone, derr := demo.CleanupLeftovers(undoDemoState(&rep))
			for _, n := range gone {
				rep = append(rep, "removed leftover demo namespace "+n)
			}
			err = errors.Join(err, derr)
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
	registerStateDir(cmd.Flags(), &stateDir)
	return cmd
}

// registerStateDir adds --state-dir, shared by trace and cleanup.
func registerStateDir(fl *pflag.FlagSet, dir *string) {
	fl.StringVar(dir, "state-dir", "", "directory in a bpffs, as a path in the node's mount namespace, for tail-call interposition's lock, journal and pins (default /sys/fs/bpf/pktlife, or a bpffs pktlife mounts at /run/pktlife/bpffs)")
}

// undoDemoState restores what a killed demo left interposed in its own
// state directory, adding the lines to rep.
func undoDemoState(rep *[]string) func(dir string) error {
	return func(dir string) error {
		done, err := trace.CleanupStateDir(dir)
		*rep = append(*rep, done...)
		return err
	}
}
