package trace

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/vishvananda/netlink"

	"github.com/pktlife/pktlife/trace/internal/nodens"
	"github.com/pktlife/pktlife/trace/shimstate"
)

// Cleanup removes what a pktlife process that could not clean up (SIGKILL,
// a crash) left, from whatever mount namespace it runs in: the tail-call
// shims it interposed, restored from the journal in stateDir (as in
// Options.StateDir; "" for the node's default state directories), and its
// legacy tc observer filters, in the current namespace and in every one
// under the node's /run/netns. It returns one line per removal.
func Cleanup(stateDir string) ([]string, error) {
	done, err := CleanupStateDir(stateDir)
	more, merr := cleanupFilters()
	return append(done, more...), errors.Join(err, merr)
}

// CleanupStateDir restores what a killed pktlife left interposed in the
// state directory dir (a path in the node's mount namespace, as in
// Options.StateDir; "" for the default ones), and removes its pins.
func CleanupStateDir(dir string) ([]string, error) {
	var done []string
	var errs []error
	for _, d := range shimstate.Locate(dir) {
		notes, err := shimstate.Cleanup(d)
		done = append(done, notes...)
		errs = append(errs, err)
	}
	return done, errors.Join(errs...)
}

func cleanupFilters() ([]string, error) {
	live := liveProgs()
	paths := []string{""}
	runNetns := nodens.Get().Path("/run/netns")
	if ents, err := os.ReadDir(runNetns); err == nil {
		for _, e := range ents {
			paths = append(paths, filepath.Join(runNetns, e.Name()))
		}
	}
	var done []string
	var errs []error
	for _, p := range paths {
		ns, err := openNetns(p)
		if err != nil {
			continue // removed meanwhile
		}
		d, err := cleanupNetns(ns, live)
		done = append(done, d...)
		if err != nil {
			errs = append(errs, err)
		}
		ns.Close()
	}
	return done, errors.Join(errs...)
}
func cleanupNetns(ns *nsHandle, live map[uint32]int) ([]string, error) {
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
				if pid, ok := live[uint32(bf.Id)]; ok {
					done = append(done, fmt.Sprintf("left the pktlife tc observer on %s %s in %s: pid %d, a running pktlife, holds it", l.Attrs().Name, dirName(parent), ns.name, pid))
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

// liveProgs maps the IDs of the BPF programs that processes hold open to
// one such process: a filter whose program a live pktlife holds is that
// pktlife's, not a leftover. (The kernel's own reference from the filter
// is no file descriptor.)
func liveProgs() map[uint32]int {
	live := map[uint32]int{}
	proc := nodens.Get().Path("/proc")
	fdinfos, _ := filepath.Glob(proc + "/[0-9]*/fdinfo/*")
	for _, p := range fdinfos {
		b, err := os.ReadFile(p)
		if err != nil {
			continue // closed or gone meanwhile
		}
		_, rest, ok := strings.Cut(string(b), "\nprog_id:\t")
		if !ok {
			continue
		}
		idField, _, _ := strings.Cut(rest, "\n")
		id, err := strconv.ParseUint(idField, 10, 32)
		if err != nil {
			continue
		}
		pidDir, _, _ := strings.Cut(strings.TrimPrefix(p, proc+"/"), "/")
		pid, _ := strconv.Atoi(pidDir)
		live[uint32(id)] = pid
	}
	return live
}

func dirName(parent uint32) string {
	if parent == netlink.HANDLE_MIN_INGRESS {
		return "ingress"
	}
	return "egress"
}
