package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/cilium/ebpf/btf"
	"github.com/spf13/cobra"
)

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "pktlife",
		Short: "Show the life of a packet inside a Linux node, hop by hop",
		Long: `pktlife follows packets through a Linux node: the devices and tc hooks they
cross, the BPF programs and tail calls that handle them, the NAT they go
through, and where and why they die. It correlates the events of one packet
into a journey and renders a timeline, or NDJSON for machines.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(newTraceCmd(), newDemoCmd(), newProgsCmd(), newHopsCmd(), newCleanupCmd(), newCheckCmd(), newRecordCmd())
	return root
}

// requireRoot fails with a usage error when not running as root: every
// command that touches the kernel needs CAP_BPF and CAP_NET_ADMIN.
func requireRoot() error {
	if os.Geteuid() != 0 {
		return usageError{errors.New("must run as root (needs CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN)")}
	}
	return nil
}

// requireBTF fails when the kernel exposes no BTF: pktlife's programs are
// relocated against it. cilium/ebpf decides, as it will at load time (it
// caches what it read for the load).
func requireBTF() error {
	if _, err := btf.LoadKernelSpec(); err != nil {
		return usageError{fmt.Errorf("read kernel BTF: pktlife needs a kernel built with CONFIG_DEBUG_INFO_BTF: %w", err)}
	}
	return nil
}

// requireKernel checks what every command that loads BPF needs.
func requireKernel() error {
	if err := requireRoot(); err != nil {
		return err
	}
	return requireBTF()
}

// checkOutput validates an --output flag.
func checkOutput(o string) error {
	if o != "text" && o != "json" {
		return usagef("invalid --output %q: want text or json", o)
	}
	return nil
}
