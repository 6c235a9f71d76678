package trace

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/vishvananda/netlink"

	"github.com/pktlife/pktlife/trace/tailcall"
)

// Cleanup removes what a pktlife process that could not clean up (SIGKILL,
// a crash) left: the tail-call shims it interposed, restored from its
// journal in DefaultStateDir, and its legacy tc observer filters, in the
// current namespace and in every one under /run/netns. It returns one line
// per removal.
func Cleanup() ([]string, error) {
	done, err := tailcall.CleanupState(DefaultStateDir)
	more, merr := cleanupFilters()
	return append(done, more...), errors.Join(err, merr)
}

// CleanupStateDir restores what a killed pktlife that used its own state
// directory (Options.StateDir) left interposed there, and removes its pins.
func CleanupStateDir(dir string) ([]string, error) {
	return tailcall.CleanupState(dir)
}

func cleanupFilters() ([]string, error) {
	paths := []string{""}
	if ents, err := os.ReadDir("/run/netns"); err == nil {
		for _, e := range ents {
			paths = append(paths, filepath.Join("/run/netns", e.Name()))
		}
	}
	var done []string
	var errs []error
	for _, p := range paths {
		ns, err := openNetns(p)
		if err != nil {
			continue // removed meanwhile
		}
		d, err := cleanupNetns(ns)
		done = append(done, d...)
		if err != nil {
			errs = append(errs, err)
		}
		ns.Close()
	}
	return done, errors.Join(errs...)
}

func cleanupNetns(ns *nsHandle) ([]string, error) {
	links, err := ns.nl.LinkList()
	if err != nil {
		return nil, fmt.Errorf("list devices in %s: %w", ns.name, err)
	}
	var done []string
	var errs []error
	for _, l := range links {
		for _, parent := range []uint32{netlink.HANDLE_MIN_INGRESS, netlink.HANDLE_MIN_EGRESS} {
			fs, err := ns.nl.FilterList(l, parent)
			if err != nil {
				continue // no clsact on this device
			}
			for _, f := range fs {
				bf, ok := f.(*netlink.BpfFilter)
				if !ok || bf.Name != observerFilterName {
					continue
				}
				if err := ns.nl.FilterDel(bf); err != nil {
					errs = append(errs, fmt.Errorf("delete observer filter on %s in %s: %w", l.Attrs().Name, ns.name, err))
					continue
				}
				done = append(done, fmt.Sprintf("removed pktlife tc observer from %s %s in %s", l.Attrs().Name, dirName(parent), ns.name))
			}
		}
	}
	return done, errors.Join(errs...)
}

func dirName(parent uint32) string {
	if parent == netlink.HANDLE_MIN_INGRESS {
		return "ingress"
	}
	return "egress"
}
