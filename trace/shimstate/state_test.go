package shimstate

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"golang.org/x/sys/unix"

	"github.com/pktlife/pktlife/internal/netnstest"
)

// testDir is a state directory pktlife mounts itself, in a temporary
// directory of the node's (the test's) mount namespace.
func testDir(t *testing.T) Dir {
	t.Helper()
	netnstest.RequireRoot(t)
	node := filepath.Join(t.TempDir(), "state")
	d, err := Prepare(node)
	if err != nil {
		t.Fatalf("prepare %s: %v", node, err)
	}
	t.Cleanup(func() {
		if isBPFFS(d.Path) {
			t.Errorf("bpffs still mounted at %s", d.Path)
			unix.Unmount(d.Path, unix.MNT_DETACH)
		}
	})
	return d
}

func TestPrepareMountsAndReleaseUnmounts(t *testing.T) {
	d := testDir(t)
	if !isBPFFS(d.Path) {
		t.Fatalf("%s is no bpffs after Prepare", d.Path)
	}
	if d.Path != d.Node {
		t.Errorf("in the node's mount namespace the path is %s, want %s", d.Path, d.Node)
	}
	s, err := acquire(d)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second close: %v", err)
	}
	if _, err := os.Stat(d.Path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("state dir left after release: %v", err)
	}
}

func TestAcquireBusyNamesOwner(t *testing.T) {
	d := testDir(t)
	s, err := acquire(d)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// A second open of the directory is another flock owner, as another
	// process would be.
	_, err = acquire(d)
	want := fmt.Sprintf("pid %d (", os.Getpid())
	if !errors.Is(err, ErrBusy) || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "from the node's mount namespace") {
		t.Errorf("second acquire: %v; want %v naming %q and where", err, ErrBusy, want)
	}
	if notes, err := Cleanup(d); err != nil || len(notes) != 1 || !strings.Contains(notes[0], "belongs to a running pktlife") {
		t.Errorf("cleanup of a held directory: %q, %v", notes, err)
	}
}

// progArray is a prog_array of two slots and three programs to put in it.
func progArray(t *testing.T) (*ebpf.Map, [3]*ebpf.Program) {
	t.Helper()
	m, err := ebpf.NewMap(&ebpf.MapSpec{Name: "test_calls", Type: ebpf.ProgramArray, KeySize: 4, ValueSize: 4, MaxEntries: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	var ps [3]*ebpf.Program
	for i := range ps {
		p, err := ebpf.NewProgram(&ebpf.ProgramSpec{Name: fmt.Sprint("test_p", i), Type: ebpf.SchedCLS, License: "GPL",
			Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, int32(i)), asm.Return()}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close() })
		ps[i] = p
	}
	return m, ps
}

func progID(t *testing.T, p *ebpf.Program) uint32 {
	t.Helper()
	info, err := p.Info()
	if err != nil {
		t.Fatal(err)
	}
	v, _ := info.ID()
	return uint32(v)
}

func mapID(t *testing.T, m *ebpf.Map) uint32 {
	t.Helper()
	info, err := m.Info()
	if err != nil {
		t.Fatal(err)
	}
	v, _ := info.ID()
	return uint32(v)
}

// TestRestoreRules: a slot holding the shim gets its original back; one
// its owner rewrote is left and reported; one never swapped (killed
// between journal and swap) is left as it is, silently.
func TestRestoreRules(t *testing.T) {
	d := testDir(t)
	m, ps := progArray(t)
	orig, shim, owners := ps[0], ps[1], ps[2]
	mid := mapID(t, m)
	s, err := acquire(d)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Reserve(3); err != nil {
		t.Fatal(err)
	}
	shadow, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.ProgramArray, KeySize: 4, ValueSize: 4, MaxEntries: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer shadow.Close()
	if err := s.PinShadow(mid, shadow); err != nil {
		t.Fatal(err)
	}
	for slot := range uint32(2) {
		if err := s.Record(Entry{MapID: mid, Slot: slot, OrigID: progID(t, orig), ShimID: progID(t, shim)}); err != nil {
			t.Fatal(err)
		}
	}
	m.Put(uint32(0), shim)   // swapped
	m.Put(uint32(1), owners) // swapped, then rewritten by its owner
	if err := s.Close(); err != nil {
		t.Fatal(err) // as a killed owner leaves it: journal and shadow pinned
	}
	if _, err := os.Stat(filepath.Join(d.Path, journalPin)); err != nil {
		t.Fatalf("journal gone with the owner: %v", err)
	}
	notes, err := Cleanup(d)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(notes, "\n")
	if !strings.Contains(got, "restored 1 tail-call slot(s) left interposed by pktlife pid") || !strings.Contains(got, "[test_calls/1] was replaced by its owner") {
		t.Errorf("cleanup said:\n%s", got)
	}
	var cur uint32
	if m.Lookup(uint32(0), &cur); cur != progID(t, orig) {
		t.Errorf("slot 0 holds %d, want the original %d", cur, progID(t, orig))
	}
	if m.Lookup(uint32(1), &cur); cur != progID(t, owners) {
		t.Errorf("slot 1 holds %d, want the owner's %d", cur, progID(t, owners))
	}
	if _, err := os.Stat(d.Path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("state dir left after cleanup: %v", err)
	}
}

func TestReserveRefusesLeftoverJournal(t *testing.T) {
	d := testDir(t)
	s, err := acquire(d)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Reserve(1); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = acquire(d)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		s.Restore()
		s.Close()
	}()
	if err := s.Reserve(1); err == nil || !strings.Contains(err.Error(), "previous owner's journal") {
		t.Errorf("reserve over a leftover journal: %v", err)
	}
}

// In a node pod of kubectl pktlife the owner record names the pod, from
// the environment the pod spec sets; elsewhere only the namespaces.
func TestDescribeNamesNodePod(t *testing.T) {
	t.Setenv(EnvPodName, "")
	plain := Describe()
	if strings.Contains(plain, "pod ") {
		t.Errorf("outside a pod: %q", plain)
	}
	t.Setenv(EnvPodNamespace, "default")
	t.Setenv(EnvPodName, "pktlife-050ebb95-vm")
	if got, want := Describe(), "pod default/pktlife-050ebb95-vm, "+plain; got != want {
		t.Errorf("in a node pod: %q, want %q", got, want)
	}
	o := Owner{PID: 30719, Comm: "pktlife", Started: time.Date(2026, 12, 3, 7, 22, 36, 0, time.UTC), Where: Describe()}
	if got, want := o.String(), "pid 30719 (pktlife) since 2026-12-03 07:22:36 UTC, from pod default/pktlife-050ebb95-vm, "+plain; got != want {
		t.Errorf("owner %q, want %q", got, want)
	}
}
