package tailcall

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/pktlife/pktlife/trace/internal/bpfobj"
)

// undo puts the original programs back into the slots j lists, wherever a
// slot still holds pktlife's shim, then removes the shadow pins no slot
// needs any more and, once nothing is left, the journal. A slot its owner
// changed meanwhile is left alone and reported. Slots that could not be
// restored stay in the journal, with their shadows still pinned, so that
// their shims keep working and `pktlife cleanup` can try again.
func undo(dir string, j *journal) (restored int, notes []string, err error) {
	var failed []journalSlot
	var errs []error
	for _, s := range j.Slots {
		note, err := restoreSlot(s)
		switch {
		case err != nil:
			failed = append(failed, s)
			errs = append(errs, err)
		case note == "":
			restored++
		}
		if note != "" {
			notes = append(notes, note)
		}
	}
	// A packet may be inside a shim, about to jump through its shadow: let
	// every such program finish before the shadows are emptied.
	rcuSync()

	var kept []journalShadow
	for _, sh := range j.Shadows {
		if slices.ContainsFunc(failed, func(s journalSlot) bool { return s.MapID == sh.MapID }) {
			kept = append(kept, sh)
			continue
		}
		if err := os.Remove(sh.Pin); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("unpin shadow of map %d: %w", sh.MapID, err))
			kept = append(kept, sh)
		}
	}
	if len(failed) > 0 || len(kept) > 0 {
		j.Slots, j.Shadows = failed, kept
		if err := writeJournal(dir, j); err != nil {
			errs = append(errs, err)
		}
		return restored, notes, fmt.Errorf("restore tail-call slots (run `pktlife cleanup` to retry): %w", errors.Join(errs...))
	}
	if err := releasePinDir(j); err != nil {
		errs = append(errs, err)
	}
	if err := removeJournal(dir); err != nil {
		errs = append(errs, err)
	}
	return restored, notes, errors.Join(errs...)
}

// restoreSlot puts s's original program back if the slot still holds the
// shim. The read and the write are two system calls: an owner writing the
// slot in between would be overwritten, a window of microseconds that the
// kernel offers no compare-and-swap to close.
func restoreSlot(s journalSlot) (note string, err error) {
	where := fmt.Sprintf("[%s/%d]", s.MapName, s.Slot)
	m, err := ebpf.NewMapFromID(ebpf.MapID(s.MapID))
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Sprintf("%s: the prog_array is gone (its datapath was unloaded); nothing to restore", where), nil
	}
	if err != nil {
		return "", fmt.Errorf("open prog_array %s (id %d): %w", s.MapName, s.MapID, err)
	}
	defer m.Close()
	var cur uint32
	err = m.Lookup(s.Slot, &cur)
	switch {
	case errors.Is(err, ebpf.ErrKeyNotExist):
		return fmt.Sprintf("%s was emptied while pktlife traced (by its owner, or because its owner exited); left empty", where), nil
	case err != nil:
		return "", fmt.Errorf("read slot %s: %w", where, err)
	case cur != s.ShimID:
		return fmt.Sprintf("%s was replaced by its owner while pktlife traced (now program %d, %s); left alone",
			where, cur, bpfobj.Name(ebpf.ProgramID(cur))), nil
	}
	orig, err := ebpf.NewProgramFromID(ebpf.ProgramID(s.OrigID))
	if err != nil {
		return "", fmt.Errorf("open original program %d (%s) of %s: %w", s.OrigID, s.OrigName, where, err)
	}
	defer orig.Close()
	if err := m.Put(s.Slot, orig); err != nil {
		return "", fmt.Errorf("restore slot %s: %w", where, err)
	}
	return "", nil
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

// recoverJournal restores what a pktlife that died while interposing left
// in the datapath, from its journal. The caller holds the state lock, so
// that process is gone. No journal means nothing to do.
func recoverJournal(dir string) ([]string, error) {
	j, err := readJournal(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	n, notes, err := undo(dir, j)
	head := fmt.Sprintf("restored %d tail-call slot(s) that pktlife pid %d (started %s) left interposed",
		n, j.PID, j.Started.Format("2006-01-02 15:04:05"))
	return append([]string{head}, notes...), err
}

// cleanupState is Cleanup's part for tail-call interposition in one state
// directory: restore from a dead pktlife's journal, unless a live one holds
// the lock.
func cleanupState(dir string) ([]string, error) {
	if _, err := os.Stat(journalPath(dir)); errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	l, err := lockState(dir)
	if errors.Is(err, ErrInterposeBusy) {
		return []string{fmt.Sprintf("tail-call journal %s belongs to a running pktlife (%v); left alone", journalPath(dir), err)}, nil
	}
	if err != nil {
		return nil, err
	}
	defer l.Close()
	return recoverJournal(dir)
}

// bpffs pins.

func isBPFFS(path string) bool {
	var st unix.Statfs_t
	return unix.Statfs(path, &st) == nil && st.Type == unix.BPF_FS_MAGIC
}

// pinRoot chooses where shadow prog_arrays are pinned: /sys/fs/bpf/pktlife
// when /sys/fs/bpf is a bpffs, else a bpffs pktlife mounts (own) at
// stateDir/bpffs. Pins must outlive pktlife: a prog_array is emptied when
// its last file descriptor or pin goes away, and the shims' shadows must
// keep working after pktlife is killed.
func pinRoot(stateDir string) (root string, own bool, err error) {
	if isBPFFS("/sys/fs/bpf") {
		root = "/sys/fs/bpf/pktlife"
		if err := os.MkdirAll(root, 0o700); err != nil {
			return "", false, fmt.Errorf("create pin dir: %w", err)
		}
		return root, false, nil
	}
	root = filepath.Join(stateDir, "bpffs")
	if err := os.MkdirAll(root, 0o700); err != nil {
		return "", false, fmt.Errorf("create bpffs mount point: %w", err)
	}
	if !isBPFFS(root) {
		if err := unix.Mount("bpf", root, "bpf", 0, "mode=0700"); err != nil {
			return "", false, fmt.Errorf("mount bpffs at %s: %w", root, err)
		}
	}
	return root, true, nil
}

// releasePinDir removes the (empty) pin directory, and the bpffs pktlife
// mounted once nothing is pinned in it.
func releasePinDir(j *journal) error {
	if j.PinDir != "" {
		if err := os.Remove(j.PinDir); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("remove pin dir: %w", err)
		}
	}
	if j.PinRoot == "" {
		return nil
	}
	ents, err := os.ReadDir(j.PinRoot)
	if err != nil {
		return nil
	}
	for _, e := range ents {
		// maps.debug and progs.debug are the kernel's bpf_preload
		// iterators, in every new bpffs.
		if !strings.HasSuffix(e.Name(), ".debug") {
			return nil // in use
		}
	}
	if !j.OwnRoot {
		os.Remove(j.PinRoot) // an empty /sys/fs/bpf/pktlife
		return nil
	}
	if err := unix.Unmount(j.PinRoot, 0); err != nil && !errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("unmount %s: %w", j.PinRoot, err)
	}
	os.Remove(j.PinRoot)
	return nil
}
