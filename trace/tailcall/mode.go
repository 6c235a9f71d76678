package tailcall

import (
	"errors"
	"fmt"
	"io"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"golang.org/x/sys/unix"

	"github.com/pktlife/pktlife/bpf"
	"github.com/pktlife/pktlife/trace/internal/bpfobj"
	"github.com/pktlife/pktlife/trace/journey"
	"github.com/pktlife/pktlife/trace/tailcall/mode"
)

// Mode says how tail calls are traced; its one spelling is package mode.
type Mode = mode.Mode

// The tail-call modes.
const (
	ModeAuto      = mode.Auto
	ModeInterpose = mode.Interpose
	ModePassive   = mode.Passive
	ModeOff       = mode.Off
)

// ErrBadMode is returned for an unknown mode.
var ErrBadMode = mode.ErrUnknown

// CheckMode accepts "" (ModeAuto) and mode.All.
func CheckMode(m Mode) error { return mode.Check(m) }

// ErrNeedInterpose says, in ModeAuto, that this kernel can show
// per-packet chains only with ModeInterpose.
var ErrNeedInterpose = errors.New("per-packet tail-call chains need tail-call mode " + ModeInterpose)

// ErrNoObserver is returned for ModeInterpose when no tc observer is attached.
var ErrNoObserver = errors.New("interpose tail calls: no tc observer is attached to hang the jumps under")

// Loader loads pktlife's own programs against the tracer's shared maps
// (the ring buffers, the table of followed skbs): the tracer implements it.
type Loader interface {
	// NewShadow creates an empty shadow prog_array of n slots.
	NewShadow(n uint32) (*ebpf.Map, error)
	// LoadShim loads the shim for slot t, which jumps on through shadow.
	LoadShim(t ShimTarget, shadow *ebpf.Map) (*ebpf.Program, error)
	// AttachEntryExit attaches fentry and fexit to the tc program p, whose
	// function is fn and id is id, reporting its entry and exit.
	AttachEntryExit(p *ebpf.Program, fn string, id uint32) ([]io.Closer, error)
}

// ShimTarget is the slot a shim is loaded for.
type ShimTarget struct {
	MapID, Slot, ProgID uint32
	ProgType            ebpf.ProgramType
}

// Config says where to trace tail calls.
type Config struct {
	Netns    []string // namespace paths; "" is pktlife's own
	Ifaces   []string // device globs; empty = all
	Own      []uint32 // pktlife's tc observers: where chains hang, and not the datapath's
	StateDir string   // ModeInterpose's state directory (shimstate); "" = the node's default
	// IgnoreBudget interposes whatever the depth (tests of the shim's
	// failure path only).
	IgnoreBudget bool
	JournalSlots int // the journal's size when not 0 (tests only)
	Loader       Loader
}

// Report is one line of what a mode attached, or why not.
type Report struct {
	Where     string
	Mechanism Mode
	Err       error
}

// A Tracer traces tail calls one way: Start attaches it and reports how,
// it annotates journeys with their chains, and Close undoes what it
// attached. *Interposer and *Passive are the two.
type Tracer interface {
	journey.Annotation
	io.Closer
}

// Start traces tail calls in mode m, once the tc observers in cfg.Own are
// attached. Off, and Auto where the kernel offers no passive way, return a
// nil Tracer (with a report saying why, for Auto).
func Start(m Mode, cfg Config) (Tracer, []Report, error) {
	switch m {
	case ModeOff:
		return nil, nil, nil
	case ModePassive:
		return startPassive(cfg)
	case ModeInterpose:
		if len(cfg.Own) == 0 {
			return nil, nil, ErrNoObserver
		}
		return startInterpose(cfg)
	}
	if len(cfg.Own) == 0 {
		return nil, nil, nil // no tc hop: tail calls would have nothing to hang under
	}
	err := probeFentry(cfg.Own[0])
	switch {
	case errors.Is(err, unix.EPERM):
		err = fmt.Errorf("%w (fentry: refused by this kernel (EPERM))", ErrNeedInterpose)
	case err != nil:
		err = fmt.Errorf("%w (fentry: %w)", ErrNeedInterpose, err)
	default:
		return startPassive(cfg)
	}
	return nil, []Report{{Where: "per packet", Mechanism: ModePassive, Err: err}}, nil
}

// probeFentry loads, without attaching, an fentry program on one of
// pktlife's own tc programs: the kernel decides at load time.
func probeFentry(target uint32) error {
	p, err := ebpf.NewProgramFromID(ebpf.ProgramID(target))
	if err != nil {
		return fmt.Errorf("open program %d: %w", target, err)
	}
	defer p.Close()
	name := bpf.PktlifeProgPlTcIngress
	if info, err := p.Info(); err == nil && bpfobj.FullName(info) != "" {
		name = bpfobj.FullName(info)
	}
	fe, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Type:         ebpf.Tracing,
		AttachType:   ebpf.AttachTraceFEntry,
		AttachTarget: p,
		AttachTo:     name,
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()},
		License:      "GPL",
	})
	if err != nil {
		return fmt.Errorf("load fentry probe: %w", err)
	}
	return fe.Close()
}

// skipSet makes a set of program ids.
func skipSet(ids []uint32) map[uint32]bool {
	out := map[uint32]bool{}
	for _, id := range ids {
		out[id] = true
	}
	return out
}
