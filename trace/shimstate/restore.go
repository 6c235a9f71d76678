package shimstate

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"slices"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/pktlife/pktlife/trace/internal/bpfobj"
)

// Restore puts the original programs back into every journalled slot that
// still holds its shim, whoever journalled it, then unpins the shadows no
// slot needs and, once it is empty, the journal. A slot its owner changed
// meanwhile is left alone and reported. Slots that could not be restored
// stay journalled, their shadows pinned, so that the shims keep working
// and a later cleanup can try again.
func (s *State) Restore() (restored int, notes []string, err error) {
	m := s.journal
	if m == nil {
		m, err = ebpf.LoadPinnedMap(s.dir.join(journalPin), nil)
		if errors.Is(err, os.ErrNotExist) {
			return 0, nil, s.dropShadows(nil)
		}
		if err != nil {
			return 0, nil, fmt.Errorf("open journal in %s: %w", s.dir.Node, err)
		}
		defer m.Close()
	}
	es, err := entries(m)
	if err != nil {
		return 0, nil, err
	}
	var left []uint32 // maps with slots still journalled
	var errs []error
	for _, e := range es {
		note, done, err := restoreSlot(e)
		if note != "" {
			notes = append(notes, note)
		}
		if err != nil {
			errs = append(errs, err)
			left = append(left, e.MapID)
			continue
		}
		if done {
			restored++
		}
		if err := m.Delete(entryKey{e.MapID, e.Slot}); err != nil {
			errs = append(errs, fmt.Errorf("forget restored slot %d of map %d: %w", e.Slot, e.MapID, err))
			left = append(left, e.MapID)
		}
	}
	// A packet may be inside a shim, about to jump through its shadow: let
	// every such program finish before the shadows are emptied.
	rcuSync()
	errs = append(errs, s.dropShadows(left))
	if len(left) == 0 {
		if err := os.Remove(s.dir.join(journalPin)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("unpin journal: %w", err))
		}
		if s.journal != nil {
			s.journal.Close()
			s.journal = nil
		}
	}
	if err := errors.Join(errs...); err != nil {
		return restored, notes, fmt.Errorf("restore tail-call slots (pktlife cleanup retries): %w", err)
	}
	return restored, notes, nil
}

// dropShadows unpins every shadow but those of the maps in keep.
func (s *State) dropShadows(keep []uint32) error {
	var errs []error
	for _, id := range shadows(s.dir) {
		if slices.Contains(keep, id) {
			continue
		}
		if err := os.Remove(s.dir.join(shadowPin(id))); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("unpin shadow of map %d: %w", id, err))
		}
	}
	return errors.Join(errs...)
}

// restoreSlot puts e's original program back if the slot still holds the
// shim. The read and the write are two system calls: an owner writing the
// slot in between would be overwritten, a window of microseconds that the
// kernel offers no compare-and-swap to close.
func restoreSlot(e Entry) (note string, done bool, err error) {
	m, err := ebpf.NewMapFromID(ebpf.MapID(e.MapID))
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Sprintf("map %d slot %d: the prog_array is gone (its datapath was unloaded); nothing to restore", e.MapID, e.Slot), false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("open prog_array %d: %w", e.MapID, err)
	}
	defer m.Close()
	where := fmt.Sprintf("[%s/%d]", mapName(m), e.Slot)
	var cur uint32
	err = m.Lookup(e.Slot, &cur)
	switch {
	case errors.Is(err, ebpf.ErrKeyNotExist):
		return fmt.Sprintf("%s was emptied while pktlife traced (by its owner, or because its owner exited); left empty", where), false, nil
	case err != nil:
		return "", false, fmt.Errorf("read slot %s: %w", where, err)
	case cur == e.OrigID:
		return "", false, nil // killed between the journal and the swap
	case cur != e.ShimID:
		return fmt.Sprintf("%s was replaced by its owner while pktlife traced (now program %d, %s); left alone",
			where, cur, cmp.Or(bpfobj.Name(ebpf.ProgramID(cur)), "?")), false, nil
	}
	orig, err := ebpf.NewProgramFromID(ebpf.ProgramID(e.OrigID))
	if err != nil {
		return "", false, fmt.Errorf("open original program %d of %s: %w", e.OrigID, where, err)
	}
	defer orig.Close()
	if err := m.Put(e.Slot, orig); err != nil {
		return "", false, fmt.Errorf("restore slot %s: %w", where, err)
	}
	return "", true, nil
}

func mapName(m *ebpf.Map) string {
	if info, err := m.Info(); err == nil && info.Name != "" {
		return info.Name
	}
	return "?"
}

// membarrierCmdGlobal is MEMBARRIER_CMD_GLOBAL: it returns after an RCU
// grace period, i.e. after every BPF program running when it was called
// (they run under rcu_read_lock) has returned.
const membarrierCmdGlobal = 1

func rcuSync() {
	// Fails only on nohz_full kernels; tcx detaches and map frees that
	// follow wait for grace periods of their own.
	unix.Syscall(unix.SYS_MEMBARRIER, membarrierCmdGlobal, 0, 0)
}

// Cleanup restores what a dead pktlife left journalled in d and releases
// d, unless a live pktlife holds it. It says what it did, one line each.
func Cleanup(d Dir) ([]string, error) {
	s, err := acquire(d)
	if errors.Is(err, errGone) {
		return nil, nil // its owner released it: nothing was left
	}
	if errors.Is(err, ErrBusy) {
		return []string{fmt.Sprintf("tail-call state in %s belongs to a running pktlife (%v); left alone", d.Node, err)}, nil
	}
	if err != nil {
		return nil, err
	}
	return s.recover(true)
}

// Recover restores what a dead owner left in s, saying what it did, and
// keeps s held.
func (s *State) Recover() ([]string, error) { return s.recover(false) }

func (s *State) recover(andClose bool) (out []string, err error) {
	n, notes, err := s.Restore()
	if n > 0 || len(notes) > 0 {
		dead := "a pktlife whose pid is unknown"
		if s.prev.PID != 0 {
			dead = "pktlife " + s.prev.String()
		}
		out = append(out, fmt.Sprintf("restored %d tail-call slot(s) left interposed by %s", n, dead))
		out = append(out, notes...)
	}
	if andClose {
		err = errors.Join(err, s.Close())
	}
	return out, err
}
