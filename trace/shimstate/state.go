package shimstate

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/cilium/ebpf"
)

const (
	journalPin   = "journal"
	shadowPrefix = "shadow_"
)

// Entry is one prog_array slot that holds a shim: journalled before the
// swap, so that a killed pktlife's slots can be put back.
type Entry struct {
	MapID  uint32 // the datapath's prog_array
	Slot   uint32
	OrigID uint32 // the datapath's program, kept alive by the shadow
	ShimID uint32
}

type entryKey struct{ MapID, Slot uint32 }

type entryVal struct{ OrigID, ShimID uint32 }

// State is a held state directory: its lock, and the journal of the slots
// the holder swapped.
type State struct {
	dir     Dir
	lock    *lock
	prev    Owner // the last owner before this one, if recorded
	journal *ebpf.Map
	closed  bool
}

// Acquire prepares the state directory at node (see Prepare), locks it for
// this process and records it as the owner. It fails with ErrBusy, naming
// the owner, while another pktlife holds it.
func Acquire(node string) (*State, error) {
	for range 3 {
		d, err := Prepare(node)
		if err != nil {
			return nil, err
		}
		s, err := acquire(d)
		if !errors.Is(err, errGone) {
			return s, err
		}
	}
	return nil, fmt.Errorf("lock state dir %s: it keeps being released", node)
}

// acquire locks d and records this process as its owner.
func acquire(d Dir) (_ *State, err error) {
	l, err := takeLock(d)
	if err != nil {
		return nil, err
	}
	s := &State{dir: d, lock: l}
	defer func() {
		if err != nil {
			s.lock.Close()
		}
	}()
	s.prev, _ = readOwner(d)
	if err := writeOwner(d, Self()); err != nil {
		return nil, err
	}
	return s, nil
}

// Dir is where the state is.
func (s *State) Dir() Dir { return s.dir }

// Reserve creates the journal for n slots. Its memory is allocated here,
// before the first swap, so a journal that cannot be had refuses
// interposition before anything in the datapath changed. A journal left
// by a dead owner must have been restored first.
func (s *State) Reserve(n int) error {
	if _, err := os.Stat(s.dir.join(journalPin)); err == nil {
		return fmt.Errorf("reserve journal in %s: a previous owner's journal is still there", s.dir.Node)
	}
	m, err := ebpf.NewMap(&ebpf.MapSpec{Name: "pl_journal", Type: ebpf.Hash, KeySize: 8, ValueSize: 8, MaxEntries: uint32(max(n, 1))})
	if err != nil {
		return fmt.Errorf("reserve journal for %d slots: %w", n, err)
	}
	if err := m.Pin(s.dir.join(journalPin)); err != nil {
		m.Close()
		return fmt.Errorf("pin journal in %s: %w", s.dir.Node, err)
	}
	s.journal = m
	return nil
}

// PinShadow pins the shadow prog_array of the datapath's map mapID, before
// any shim jumps through it: a prog_array is emptied when its last file
// descriptor and pin go away.
func (s *State) PinShadow(mapID uint32, shadow *ebpf.Map) error {
	if err := shadow.Pin(s.dir.join(shadowPin(mapID))); err != nil {
		return fmt.Errorf("pin shadow of map %d in %s: %w", mapID, s.dir.Node, err)
	}
	return nil
}

func shadowPin(mapID uint32) string { return shadowPrefix + strconv.FormatUint(uint64(mapID), 10) }

// Record journals e; it must precede the swap.
func (s *State) Record(e Entry) error {
	if s.journal == nil {
		return errors.New("record slot: no journal reserved")
	}
	if err := s.journal.Put(entryKey{e.MapID, e.Slot}, entryVal{e.OrigID, e.ShimID}); err != nil {
		return fmt.Errorf("record slot %d of map %d: %w", e.Slot, e.MapID, err)
	}
	return nil
}

// Forget drops e from the journal, after a swap that did not happen.
func (s *State) Forget(e Entry) error {
	if err := s.journal.Delete(entryKey{e.MapID, e.Slot}); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("forget slot %d of map %d: %w", e.Slot, e.MapID, err)
	}
	return nil
}

// entries reads the journal at d; none when there is no journal.
func entries(m *ebpf.Map) ([]Entry, error) {
	var out []Entry
	var k entryKey
	var v entryVal
	it := m.Iterate()
	for it.Next(&k, &v) {
		out = append(out, Entry{MapID: k.MapID, Slot: k.Slot, OrigID: v.OrigID, ShimID: v.ShimID})
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("read journal: %w", err)
	}
	return out, nil
}

// shadows lists the map IDs whose shadows are pinned in d.
func shadows(d Dir) []uint32 {
	ents, _ := os.ReadDir(d.Path)
	var out []uint32
	for _, e := range ents {
		if id, ok := strings.CutPrefix(e.Name(), shadowPrefix); ok {
			if v, err := strconv.ParseUint(id, 10, 32); err == nil {
				out = append(out, uint32(v))
			}
		}
	}
	return out
}

// Close releases the state: the caller has restored its slots (Restore)
// or left them journalled for cleanup. The directory goes once empty.
// Safe twice.
func (s *State) Close() error {
	if s == nil || s.closed {
		return nil
	}
	s.closed = true
	if s.journal != nil {
		s.journal.Close()
	}
	return errors.Join(release(s.dir), s.lock.Close())
}
