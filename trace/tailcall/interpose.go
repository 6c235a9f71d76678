package tailcall

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/cilium/ebpf"

	"github.com/pktlife/pktlife/trace/internal/bpfobj"
	"github.com/pktlife/pktlife/trace/journey"
	"github.com/pktlife/pktlife/trace/progs"
)

// ErrTailCallBudget is returned when shims would make a packet exceed the
// kernel's 33 tail calls, or could, on a cyclic graph.
var ErrTailCallBudget = errors.New("tail-call budget exceeded")

// Slot is one prog_array slot whose program pktlife shimmed.
type Slot struct {
	Map    string       // prog_array name
	MapID  uint32       // prog_array ID
	Slot   uint32       // index
	Prog   journey.Prog // the datapath's program in the slot
	ShimID uint32       // pktlife's shim that took its place
}

// Interposer holds pktlife's shims in the datapath's prog_arrays: every
// reachable filled slot holds a pl_tail_shim that records the jump and
// tail-calls the original through a pinned shadow prog_array. The journal
// on disk always lists at least what is in place.
type Interposer struct {
	dir     string
	loader  Loader
	lock    *stateLock
	j       journal
	shims   []*ebpf.Program
	shadows []*ebpf.Map
	// missed lists, by program ID, the constant-index tail calls into
	// empty slots that the graph shows: a shim cannot see those.
	missed  map[uint32][]journey.TailCall
	notices []string
	noticed int // notices already returned
	closed  bool
}

// startInterpose discovers the tail-call graph behind the tc programs of the
// configured devices and puts a shim into every reachable filled slot.
func startInterpose(cfg Config) (_ Tracer, _ []Report, err error) {
	ip, err := interpose(cfg)
	if err != nil {
		return nil, nil, err
	}
	n, maps := len(ip.j.Slots), map[uint32]bool{}
	for _, s := range ip.j.Slots {
		maps[s.MapID] = true
	}
	where := fmt.Sprintf("%d prog_array slot(s) in %d map(s)", n, len(maps))
	if n == 0 {
		where = "no tail call found behind the selected devices"
	}
	return ip, []Report{{Where: where, Mechanism: ModeInterpose}}, nil
}

func interpose(cfg Config) (_ *Interposer, err error) {
	if cfg.StateDir == "" {
		cfg.StateDir = DefaultStateDir
	}
	ip := &Interposer{dir: cfg.StateDir, loader: cfg.Loader}
	defer func() {
		if err != nil {
			err = errors.Join(err, ip.Close())
		}
	}()
	if ip.lock, err = lockState(cfg.StateDir); err != nil {
		return nil, fmt.Errorf("interpose tail calls: %w", err)
	}
	notes, err := recoverJournal(cfg.StateDir)
	ip.notices = append(ip.notices, notes...)
	if err != nil {
		return nil, fmt.Errorf("recover tail-call journal: %w", err)
	}
	g, err := discoverAll(cfg)
	if err != nil {
		return nil, err
	}
	if !cfg.IgnoreBudget {
		if err := checkBudget(g); err != nil {
			return nil, err
		}
	}
	ip.missed = emptyCalls(g)
	return ip, ip.shimAll(cfg.StateDir, filledSlots(g))
}

// filledSlots lists the reachable slots that hold a program.
func filledSlots(g *progs.Graph) []progs.SlotRef {
	var out []progs.SlotRef
	for _, s := range g.ReachableSlots() {
		if s.ProgID != 0 {
			out = append(out, s)
		}
	}
	return out
}

// shimAll starts the journal and shims the slots, one prog_array at a
// time (slots come grouped by map).
func (ip *Interposer) shimAll(stateDir string, slots []progs.SlotRef) error {
	if len(slots) == 0 {
		return nil
	}
	root, own, err := pinRoot(stateDir)
	if err != nil {
		return fmt.Errorf("interpose tail calls: %w", err)
	}
	ip.j = journal{
		Version: journalVersion, PID: os.Getpid(), Started: time.Now(),
		PinDir: filepath.Join(root, fmt.Sprint(os.Getpid())), PinRoot: root, OwnRoot: own,
	}
	if err := writeJournal(stateDir, &ip.j); err != nil {
		return err
	}
	if err := os.MkdirAll(ip.j.PinDir, 0o700); err != nil {
		return fmt.Errorf("create pin dir: %w", err)
	}
	for len(slots) > 0 {
		n := 1
		for n < len(slots) && slots[n].MapID == slots[0].MapID {
			n++
		}
		if err := ip.interposeMap(slots[:n]); err != nil {
			return err
		}
		slots = slots[n:]
	}
	return nil
}

// discoverAll discovers the graph in every configured namespace.
func discoverAll(cfg Config) (*progs.Graph, error) {
	all := &progs.Graph{}
	for _, ns := range cfg.Netns {
		g, err := progs.Discover(context.Background(), progs.Options{Netns: ns, Ifaces: cfg.Ifaces, SkipProgIDs: skipSet(cfg.Own)})
		if err != nil {
			return nil, fmt.Errorf("discover tail calls: %w", err)
		}
		all.Devices = append(all.Devices, g.Devices...)
	}
	return all, nil
}

// checkBudget refuses graphs on which shims could make a packet exceed the
// kernel's tail-call limit: each shim costs one tail call, so a chain of
// depth d makes 2d. It refuses rather than shim a part of the graph, since
// chains with unshimmed jumps would look shorter than they are.
func checkBudget(g *progs.Graph) error {
	depth, cyclic := g.MaxDepth()
	if !cyclic && 2*depth <= progs.MaxTailCalls {
		return nil
	}
	where := "?"
	deepest := -1
	for _, ep := range g.EntryPrograms() {
		d, c := g.ChainDepth(ep.Entry.Prog.ID)
		if (cyclic && c) || (!cyclic && d > deepest) {
			deepest = d
			where = fmt.Sprintf("%s at %s %s", ep.Entry.Prog.Name, ep.Device.Name, ep.Direction)
			if cyclic {
				break
			}
		}
	}
	if cyclic {
		return fmt.Errorf("interpose tail calls: %w: the chain from %s can loop, so a packet may already make all %d tail calls the kernel allows and shims would cut it short; trace with tail-call mode "+ModeOff,
			ErrTailCallBudget, where, progs.MaxTailCalls)
	}
	return fmt.Errorf("interpose tail calls: %w: the chain from %s makes up to %d tail calls, %d with a shim before each, more than the kernel's %d per packet; trace with tail-call mode "+ModeOff,
		ErrTailCallBudget, where, depth, 2*depth, progs.MaxTailCalls)
}

// emptyCalls lists, per program, its constant-index tail calls into empty
// slots, as inferred missed tail calls.
func emptyCalls(g *progs.Graph) map[uint32][]journey.TailCall {
	out := map[uint32][]journey.TailCall{}
	for id, n := range g.Programs() {
		for _, m := range n.Maps {
			for _, s := range m.Slots {
				if s.Empty {
					out[id] = append(out[id], journey.TailCall{Map: m.Name, MapID: m.ID, Slot: s.Index, Missed: true, Inferred: true})
				}
			}
		}
	}
	return out
}

// interposeMap shims the given slots of one prog_array.
func (ip *Interposer) interposeMap(slots []progs.SlotRef) error {
	mid := slots[0].MapID
	orig, err := ebpf.NewMapFromID(ebpf.MapID(mid))
	if err != nil {
		return fmt.Errorf("open prog_array %s (id %d): %w", slots[0].MapName, mid, err)
	}
	defer orig.Close()
	if orig.Type() != ebpf.ProgramArray {
		return fmt.Errorf("open prog_array %s (id %d): a %s, not a prog_array", slots[0].MapName, mid, orig.Type())
	}
	shadow, err := ip.loader.NewShadow(orig.MaxEntries())
	if err != nil {
		return err
	}
	ip.shadows = append(ip.shadows, shadow)
	sid, err := bpfobj.MapID(shadow)
	if err != nil {
		return fmt.Errorf("shadow of %s: %w", slots[0].MapName, err)
	}
	pin := filepath.Join(ip.j.PinDir, fmt.Sprintf("shadow_%d", mid))
	ip.j.Shadows = append(ip.j.Shadows, journalShadow{MapID: mid, ShadowID: sid, Pin: pin})
	if err := writeJournal(ip.dir, &ip.j); err != nil {
		return err
	}
	if err := shadow.Pin(pin); err != nil {
		return fmt.Errorf("pin shadow of %s: %w", slots[0].MapName, err)
	}
	for _, s := range slots {
		if err := ip.interposeSlot(orig, shadow, s); err != nil {
			return err
		}
	}
	return nil
}

// interposeSlot puts one shim in place: the shadow first holds the
// original, the journal records the change, and only then does the slot
// get the shim. A slot that changed since discovery is left alone.
func (ip *Interposer) interposeSlot(orig, shadow *ebpf.Map, s progs.SlotRef) error {
	where := fmt.Sprintf("[%s/%d]", s.MapName, s.Index)
	prog, err := ebpf.NewProgramFromID(ebpf.ProgramID(s.ProgID))
	if err != nil {
		ip.notices = append(ip.notices, fmt.Sprintf("%s: program %d went away before pktlife could interpose; not traced", where, s.ProgID))
		return nil
	}
	defer prog.Close()
	info, err := prog.Info()
	if err != nil {
		return fmt.Errorf("read program %d info: %w", s.ProgID, err)
	}
	if info.Type != ebpf.SchedCLS && info.Type != ebpf.SchedACT {
		return fmt.Errorf("interpose %s: program %d is a %s program, not a tc one", where, s.ProgID, info.Type)
	}
	shim, err := ip.loader.LoadShim(ShimTarget{MapID: s.MapID, Slot: s.Index, ProgID: s.ProgID, ProgType: info.Type}, shadow)
	if err != nil {
		return fmt.Errorf("interpose %s: %w", where, err)
	}
	ip.shims = append(ip.shims, shim)
	shimID, err := bpfobj.ProgID(shim)
	if err != nil {
		return fmt.Errorf("interpose %s: %w", where, err)
	}
	if err := shadow.Put(s.Index, prog); err != nil {
		return fmt.Errorf("interpose %s: fill shadow: %w", where, err)
	}
	var cur uint32
	if err := orig.Lookup(s.Index, &cur); err != nil || cur != s.ProgID {
		ip.notices = append(ip.notices, fmt.Sprintf("%s changed while pktlife read the datapath; not traced", where))
		return nil
	}
	entry := journalSlot{MapID: s.MapID, MapName: s.MapName, Slot: s.Index, OrigID: s.ProgID, OrigName: bpfobj.Name(ebpf.ProgramID(s.ProgID)), ShimID: shimID}
	ip.j.Slots = append(ip.j.Slots, entry)
	if err := writeJournal(ip.dir, &ip.j); err != nil {
		return err
	}
	if err := orig.Put(s.Index, shim); err != nil {
		ip.j.Slots = ip.j.Slots[:len(ip.j.Slots)-1]
		return errors.Join(fmt.Errorf("interpose %s: swap in shim: %w", where, err), writeJournal(ip.dir, &ip.j))
	}
	return nil
}

// Slots lists the slots holding shims, by map ID and slot.
func (ip *Interposer) Slots() []Slot {
	out := make([]Slot, 0, len(ip.j.Slots))
	for _, s := range ip.j.Slots {
		out = append(out, Slot{Map: s.MapName, MapID: s.MapID, Slot: s.Slot,
			Prog: journey.Prog{ID: s.OrigID, Name: s.OrigName}, ShimID: s.ShimID})
	}
	slices.SortFunc(out, func(a, b Slot) int {
		return cmp.Or(cmp.Compare(a.MapID, b.MapID), cmp.Compare(a.Slot, b.Slot))
	})
	return out
}

// Close puts every original program back where the slot still holds
// pktlife's shim, unpins the shadows and releases the lock. Slots changed
// by their owners meanwhile are reported in the notices. Safe twice.
func (ip *Interposer) Close() error {
	if ip == nil || ip.closed {
		return nil
	}
	ip.closed = true
	var errs []error
	if ip.j.Version != 0 {
		_, notes, err := undo(ip.dir, &ip.j)
		ip.notices = append(ip.notices, notes...)
		errs = append(errs, err)
	}
	for _, p := range ip.shims {
		errs = append(errs, p.Close())
	}
	for _, m := range ip.shadows {
		errs = append(errs, m.Close())
	}
	ip.shims, ip.shadows = nil, nil
	errs = append(errs, ip.lock.Close())
	return errors.Join(errs...)
}
