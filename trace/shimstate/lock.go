package shimstate

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// ErrBusy is returned when another pktlife holds the state: two must never
// fight over the same prog_array slots.
var ErrBusy = errors.New("another pktlife is interposing tail calls")

const (
	ownerPin  = "owner"
	ownerSize = 1024
)

// Owner says who holds a state directory.
type Owner struct {
	PID     int       `json:"pid"`
	Comm    string    `json:"comm"`
	Started time.Time `json:"started"`
	Where   string    `json:"where"` // what Describe said in the owner's process
}

func (o Owner) String() string {
	return fmt.Sprintf("pid %d (%s) since %s, from %s", o.PID, o.Comm, o.Started.Format("2006-01-02 15:04:05 MST"), o.Where)
}

// Self is this process as an Owner.
func Self() Owner {
	comm, _ := os.ReadFile("/proc/self/comm")
	return Owner{PID: os.Getpid(), Comm: string(bytes.TrimSpace(comm)), Started: time.Now(), Where: Describe()}
}

// lock is an exclusive flock on the state directory itself. The kernel
// drops it when its holder dies, however it dies: a lock that can be taken
// means no live owner.
type lock struct {
	f *os.File
}

// errGone is returned by takeLock when the directory was removed or
// unmounted by its previous owner, who releases it when it is empty,
// before our flock: the lock is not on the live directory.
var errGone = errors.New("state directory released meanwhile")

// takeLock locks d.
func takeLock(d Dir) (*lock, error) {
	f, err := os.Open(d.Path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, errGone
	}
	if err != nil {
		return nil, fmt.Errorf("open state dir %s: %w", d.Node, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("lock %s: %w: %s; stop that one first", d.Node, ErrBusy, ownerOf(d))
		}
		return nil, fmt.Errorf("lock %s: %w", d.Node, err)
	}
	if !same(f, d.Path) {
		f.Close()
		return nil, errGone
	}
	return &lock{f: f}, nil
}

// same reports whether the open directory is still what path names.
func same(f *os.File, path string) bool {
	var a, b unix.Stat_t
	return unix.Fstat(int(f.Fd()), &a) == nil && unix.Stat(path, &b) == nil && a.Dev == b.Dev && a.Ino == b.Ino
}

func (l *lock) Close() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close() // drops the flock
	l.f = nil
	if err != nil {
		return fmt.Errorf("release state lock: %w", err)
	}
	return nil
}

// writeOwner pins the owner record, replacing a dead owner's. It is the
// first pin a holder makes, so a read-only bpffs is refused here, before
// anything else is changed.
func writeOwner(d Dir, o Owner) error {
	b, err := json.Marshal(o)
	if err != nil || len(b) >= ownerSize {
		return fmt.Errorf("encode owner record: %d bytes, %w", len(b), err)
	}
	m, err := ebpf.NewMap(&ebpf.MapSpec{Name: "pl_owner", Type: ebpf.Array, KeySize: 4, ValueSize: ownerSize, MaxEntries: 1})
	if err != nil {
		return fmt.Errorf("create owner record: %w", err)
	}
	defer m.Close()
	val := make([]byte, ownerSize)
	copy(val, b)
	if err := m.Put(uint32(0), val); err != nil {
		return fmt.Errorf("write owner record: %w", err)
	}
	// bpffs cannot rename a pin over another: a reader may find no record
	// between these two, and ownerOf waits for it
	os.Remove(d.join(ownerPin))
	if err := m.Pin(d.join(ownerPin)); err != nil {
		return fmt.Errorf("pin owner record in %s: %w", d.Node, err)
	}
	return nil
}

// ownerOf names the holder of d's lock, for the busy error. A holder that
// has just taken the lock writes its record right after: ownerOf waits for
// it a little before calling the owner unknown.
func ownerOf(d Dir) string {
	for i := 0; ; i++ {
		if o, ok := readOwner(d); ok {
			return o.String()
		}
		if i == 20 {
			return "its owner is unknown"
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// readOwner reads d's owner record: the live holder's, or the last dead
// one's.
func readOwner(d Dir) (Owner, bool) {
	m, err := ebpf.LoadPinnedMap(d.join(ownerPin), nil)
	if err != nil {
		return Owner{}, false
	}
	defer m.Close()
	val := make([]byte, ownerSize)
	if err := m.Lookup(uint32(0), val); err != nil {
		return Owner{}, false
	}
	var o Owner
	if err := json.Unmarshal(bytes.TrimRight(val, "\x00"), &o); err != nil {
		return Owner{}, false
	}
	return o, true
}
