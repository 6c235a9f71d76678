package tailcall

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// DefaultStateDir holds the tail-call interposer's lock, its restore
// journal and, where /sys/fs/bpf is not a bpffs, the bpffs its pins live in.
const DefaultStateDir = "/run/pktlife"

const journalVersion = 1

// journal is what an interposing pktlife changed in the datapath's
// prog_arrays, written and fsynced before each change, so that the
// original programs can be put back after pktlife was killed.
type journal struct {
	Version int       `json:"version"`
	PID     int       `json:"pid"`
	Started time.Time `json:"started"`
	// PinDir holds the pins of the shadow prog_arrays; PinRoot is the bpffs
	// mount it is in, unmounted when empty if it is pktlife's own.
	PinDir  string          `json:"pin_dir"`
	PinRoot string          `json:"pin_root"`
	OwnRoot bool            `json:"own_root,omitempty"`
	Slots   []journalSlot   `json:"slots"`
	Shadows []journalShadow `json:"shadows"`
}

// journalSlot is one prog_array slot holding a shim.
type journalSlot struct {
	MapID    uint32 `json:"map_id"`
	MapName  string `json:"map_name"`
	Slot     uint32 `json:"slot"`
	OrigID   uint32 `json:"orig_prog_id"`
	OrigName string `json:"orig_prog"`
	ShimID   uint32 `json:"shim_prog_id"`
}

// journalShadow is one shadow prog_array, pinned.
type journalShadow struct {
	MapID    uint32 `json:"map_id"` // the original prog_array it shadows
	ShadowID uint32 `json:"shadow_map_id"`
	Pin      string `json:"pin"`
}

func journalPath(dir string) string { return filepath.Join(dir, "journal.json") }

// writeJournal replaces the journal atomically and durably: a temporary
// file, fsynced, renamed over the old one, and the directory fsynced.
func writeJournal(dir string, j *journal) error {
	b, err := json.MarshalIndent(j, "", "  ")
	if err != nil {
		return fmt.Errorf("encode journal: %w", err)
	}
	tmp := journalPath(dir) + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("write journal: %w", err)
	}
	_, werr := f.Write(append(b, '\n'))
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		os.Remove(tmp)
		return fmt.Errorf("write journal: %w", werr)
	}
	if err := os.Rename(tmp, journalPath(dir)); err != nil {
		return fmt.Errorf("write journal: %w", err)
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

// readJournal reads the journal; an error wrapping os.ErrNotExist means
// there is none.
func readJournal(dir string) (*journal, error) {
	b, err := os.ReadFile(journalPath(dir))
	if err != nil {
		return nil, fmt.Errorf("read journal: %w", err)
	}
	var j journal
	if err := json.Unmarshal(b, &j); err != nil {
		return nil, fmt.Errorf("decode journal %s: %w", journalPath(dir), err)
	}
	if j.Version != journalVersion {
		return nil, fmt.Errorf("decode journal %s: version %d, want %d", journalPath(dir), j.Version, journalVersion)
	}
	return &j, nil
}

func removeJournal(dir string) error {
	if err := os.Remove(journalPath(dir)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove journal: %w", err)
	}
	return syncDir(dir)
}

// ErrInterposeBusy is returned when another pktlife process is interposing
// tail calls: two must never fight over the same slots.
var ErrInterposeBusy = errors.New("another pktlife is interposing tail calls")

// stateLock is an exclusive flock on the state directory's lock file,
// holding the owner's PID. The kernel drops it when its owner dies, however
// it dies, so a lock that can be taken means no live owner.
type stateLock struct {
	f    *os.File
	path string
}

func lockState(dir string) (*stateLock, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create state dir: %w", err)
	}
	path := filepath.Join(dir, "lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("lock %s: %w: %s", path, ErrInterposeBusy, lockOwner(path))
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	l := &stateLock{f: f, path: path}
	if err := f.Truncate(0); err == nil {
		_, err = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
		if err == nil {
			err = f.Sync()
		}
		if err != nil {
			l.Close()
			return nil, fmt.Errorf("write lock: %w", err)
		}
	}
	return l, nil
}

// lockOwner names the process that holds the lock, for the error message.
func lockOwner(path string) string {
	b, err := os.ReadFile(path)
	pid, perr := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || perr != nil || pid <= 0 {
		return "its PID is unknown"
	}
	comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if c := strings.TrimSpace(string(comm)); c != "" {
		return fmt.Sprintf("pid %d (%s) holds it; stop that one first", pid, c)
	}
	return fmt.Sprintf("pid %d holds it; stop that one first", pid)
}

// Close releases the lock. It is safe to call twice.
func (l *stateLock) Close() error {
	if l == nil || l.f == nil {
		return nil
	}
	l.f.Truncate(0)
	err := l.f.Close() // drops the flock
	l.f = nil
	if err != nil {
		return fmt.Errorf("release lock: %w", err)
	}
	return nil
}
