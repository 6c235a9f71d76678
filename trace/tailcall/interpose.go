package tailcall

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/pktlife/pktlife/trace/internal/bpfobj"
	"github.com/pktlife/pktlife/trace/journey"
	"github.com/pktlife/pktlife/trace/progs"
	"github.com/pktlife/pktlife/trace/progs/discover"
	"github.com/pktlife/pktlife/trace/shimstate"
)

// ErrInterposeBusy is returned when another pktlife process is interposing
// tail calls: two must never fight over the same slots.
var ErrInterposeBusy = shimstate.ErrBusy

// ErrNoDurableState is returned where the shims' shadows and journal could
// only be pinned where they would vanish with pktlife.
var ErrNoDurableState = shimstate.ErrNoDurableState

// shimName is the kernel name of pl_tail_shim, by which any pktlife's
// shims are recognised in a datapath.
const shimName = "pl_tail_shim"

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
// tail-calls the original through a shadow prog_array. Shadows and the
// journal of swapped slots are pinned in the node's bpffs (shimstate)
// before any slot changes, so that the shims keep working and the slots
// can be restored after pktlife is killed.
type Interposer struct {
	loader  Loader
	st      *shimstate.State
	slots   []Slot
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
	n, maps := len(ip.slots), map[uint32]bool{}
	for _, s := range ip.slots {
		maps[s.MapID] = true
	}
	where := fmt.Sprintf("%d prog_array slot(s) in %d map(s)", n, len(maps))
	if n == 0 {
		where = "no tail call found behind the selected devices"
	}
	return ip, []Report{{Where: where, Mechanism: ModeInterpose}}, nil
}

func interpose(cfg Config) (_ *Interposer, err error) {
	ip := &Interposer{loader: cfg.Loader}
	defer func() {
		if err != nil {
			err = errors.Join(err, ip.Close())
		}
	}()
	if ip.st, err = shimstate.Acquire(cfg.StateDir); err != nil {
		return nil, fmt.Errorf("interpose tail calls: %w", err)
	}
	notes, err := ip.st.Recover()
	ip.notices = append(ip.notices, notes...)
	if err != nil {
		return nil, fmt.Errorf("recover tail-call state: %w", err)
	}
	g, err := discoverAll(cfg)
	if err != nil {
		return nil, err
	}
	if err := foreignShims(g); err != nil {
		return nil, err
	}
	if !cfg.IgnoreBudget {
		if err := checkBudget(g); err != nil {
			return nil, err
		}
	}
	ip.missed = emptyCalls(g)
	return ip, ip.shimAll(filledSlots(g), cfg.JournalSlots)
}

// foreignShims refuses a datapath whose slots already hold a pktlife shim
// that is not ours: another pktlife interposes with other state, or one
// died there. A shim is never shimmed.
func foreignShims(g *progs.Graph) error {
	for _, s := range g.ReachableSlots() {
		if s.ProgID == 0 || bpfobj.Name(ebpf.ProgramID(s.ProgID)) != shimName {
			continue
		}
		since := ""
		if p, err := ebpf.NewProgramFromID(ebpf.ProgramID(s.ProgID)); err == nil {
			if info, err := p.Info(); err == nil {
				if lt, ok := info.LoadTime(); ok {
					since = ", loaded " + bootTime(lt).Format("2006-01-02 15:04:05 MST")
				}
			}
			p.Close()
		}
		return fmt.Errorf("interpose tail calls: %w: [%s/%d] holds another pktlife's shim (program %d%s), kept in another state directory or left by a killed pktlife; stop that one or run pktlife cleanup with its state directory",
			ErrInterposeBusy, s.MapName, s.Index, s.ProgID, since)
	}
	return nil
}

// bootTime turns a time since boot into wall-clock time.
func bootTime(since time.Duration) time.Time {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		return time.Time{}
	}
	return time.Now().Add(since - time.Duration(ts.Nano()))
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

// shimAll reserves the journal and shims the slots, one prog_array at a
// time (slots come grouped by map). journalSlots, when not 0, sizes the
// journal instead of the slots (tests only).
func (ip *Interposer) shimAll(slots []progs.SlotRef, journalSlots int) error {
	if len(slots) == 0 {
		return nil
	}
	if journalSlots == 0 {
		journalSlots = len(slots)
	}
	if err := ip.st.Reserve(journalSlots); err != nil {
		return fmt.Errorf("interpose tail calls: %w", err)
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
		g, err := discover.Graph(context.Background(), discover.Options{Netns: ns, Ifaces: cfg.Ifaces, SkipProgIDs: skipSet(cfg.Own)})
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
	if err := ip.st.PinShadow(mid, shadow); err != nil {
		return fmt.Errorf("interpose tail calls: %w", err)
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
	entry := shimstate.Entry{MapID: s.MapID, Slot: s.Index, OrigID: s.ProgID, ShimID: shimID}
	if err := ip.st.Record(entry); err != nil {
		return fmt.Errorf("interpose %s: %w", where, err)
	}
	if err := orig.Put(s.Index, shim); err != nil {
		return errors.Join(fmt.Errorf("interpose %s: swap in shim: %w", where, err), ip.st.Forget(entry))
	}
	ip.slots = append(ip.slots, Slot{Map: s.MapName, MapID: s.MapID, Slot: s.Index,
		Prog: journey.Prog{ID: s.ProgID, Name: bpfobj.Name(ebpf.ProgramID(s.ProgID))}, ShimID: shimID})
	return nil
}

// Slots lists the slots holding shims, by map ID and slot.
func (ip *Interposer) Slots() []Slot {
	out := slices.Clone(ip.slots)
	slices.SortFunc(out, func(a, b Slot) int {
		return cmp.Or(cmp.Compare(a.MapID, b.MapID), cmp.Compare(a.Slot, b.Slot))
	})
	return out
}

// Close puts every original program back where the slot still holds
// pktlife's shim, unpins the shadows and releases the state. Slots changed
// by their owners meanwhile are reported in the notices. Safe twice.
func (ip *Interposer) Close() error {
	if ip == nil || ip.closed {
		return nil
	}
	ip.closed = true
	var errs []error
	if ip.st != nil {
		_, notes, err := ip.st.Restore()
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
	errs = append(errs, ip.st.Close())
	return errors.Join(errs...)
}
