package demo

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// OwnerDir holds one lock file per live topology. A topology's process
// holds an exclusive flock on it for as long as the topology exists, so
// namespaces whose lock nobody holds were left by a process that died before
// it could remove them (SIGKILL): CleanupLeftovers removes those.
const OwnerDir = "/run/pktlife/demo"

// owner is the lock a live topology holds.
type owner struct {
	f *os.File
}

func lockOwner(base string) (*owner, error) {
	if err := os.MkdirAll(OwnerDir, 0o755); err != nil {
		return nil, fmt.Errorf("create %s: %w", OwnerDir, err)
	}
	f, err := os.OpenFile(filepath.Join(OwnerDir, base+".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("create topology lock: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock topology %s: %w", base, err)
	}
	return &owner{f: f}, nil
}

// release removes the lock file and lets go of the lock.
func (o *owner) release() {
	if o == nil || o.f == nil {
		return
	}
	os.Remove(o.f.Name())
	o.f.Close()
	o.f = nil
}

var topoName = regexp.MustCompile(`^(.+-[0-9a-f]{8})-(node|poda|podb)$`)

// StateDir is a directory private to this topology, for state a tool keeps
// about it (pktlife's interposition journal and pins): under OwnerDir, so
// CleanupLeftovers finds it.
func (t *Topology) StateDir() string {
	return filepath.Join(OwnerDir, strings.TrimSuffix(t.Node.Name, "-node")+".state")
}

// CleanupLeftovers removes the namespaces of topologies whose process died
// without removing them, and returns their names. A topology whose lock is
// held by a live process is left alone. Before, undoState (if not nil) is
// given each such topology's state directory, if it has one, to undo what
// it holds; the directory is removed afterwards.
func CleanupLeftovers(undoState func(dir string) error) ([]string, error) {
	names, err := ListNetns("")
	if err != nil {
		return nil, err
	}
	bases := map[string][]string{}
	for _, n := range names {
		if m := topoName.FindStringSubmatch(n); m != nil {
			bases[m[1]] = append(bases[m[1]], n)
		}
	}
	var removed []string
	var errs []error
	for base, nss := range bases {
		lock := filepath.Join(OwnerDir, base+".lock")
		f, err := os.OpenFile(lock, os.O_RDWR, 0)
		if errors.Is(err, os.ErrNotExist) {
			// no lock file: not a pktlife topology, or created before locks
			// existed; only the default prefix is pktlife's for certain
			if !strings.HasPrefix(base, DefaultPrefix+"-") {
				continue
			}
		} else if err != nil {
			errs = append(errs, fmt.Errorf("open %s: %w", lock, err))
			continue
		} else {
			lerr := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
			if lerr != nil {
				f.Close()
				continue // its owner is alive
			}
		}
		state := filepath.Join(OwnerDir, base+".state")
		if _, err := os.Stat(state); err == nil {
			if undoState != nil {
				if err := undoState(state); err != nil {
					errs = append(errs, err)
				}
			}
			os.RemoveAll(state)
		}
		for _, n := range nss {
			if err := netns.DeleteNamed(n); err != nil {
				errs = append(errs, fmt.Errorf("delete netns %s: %w", n, err))
				continue
			}
			removed = append(removed, n)
		}
		if f != nil {
			os.Remove(lock)
			f.Close()
		}
	}
	return removed, errors.Join(errs...)
}
