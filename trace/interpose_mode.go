package trace

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"golang.org/x/sys/unix"

	"github.com/pktlife/pktlife/bpf"
	"github.com/pktlife/pktlife/trace/journey"
)

// Tail-call modes, for Options.TailCalls.
const (
	// TailCallsAuto uses passive tracing where fentry/fexit work, and
	// otherwise says that per-packet chains need TailCallsInterpose.
	TailCallsAuto = "auto"
	// TailCallsInterpose puts shims into the datapath's prog_array slots:
	// exact per-packet chains, at the cost of changing the maps meanwhile.
	TailCallsInterpose = "interpose"
	// TailCallsPassive attaches fentry/fexit to entry programs: exact entry,
	// exit and final verdict, the chain between inferred from the graph.
	TailCallsPassive = "passive"
	// TailCallsOff records no tail calls.
	TailCallsOff = "off"
)

// ErrNeedInterpose says, in Attached, that in TailCallsAuto mode this
// kernel can show per-packet chains only with TailCallsInterpose.
var ErrNeedInterpose = errors.New("per-packet tail-call chains need tail-call mode " + TailCallsInterpose)

// tailCallHop names tail-call tracing in Attached.
const tailCallHop = "tail-calls"

func checkTailCallMode(m string) error {
	switch m {
	case "", TailCallsAuto, TailCallsInterpose, TailCallsPassive, TailCallsOff:
		return nil
	}
	return fmt.Errorf("select tail-call mode %q: want auto, interpose, passive or off: %w", m, ErrBadOption)
}

// setupTailCalls starts tail-call tracing as Options.TailCalls says, once
// the tc observers are attached.
func (t *Tracer) setupTailCalls() error {
	switch t.opts.TailCalls {
	case TailCallsOff:
		return nil
	case TailCallsPassive:
		return t.setupPassive()
	case TailCallsInterpose:
		return t.interpose()
	}
	if len(t.ownIDs) == 0 {
		return nil // no tc hop: tail calls would have nothing to hang under
	}
	err := probeFentry(uint32(t.ownIDs[0]))
	switch {
	case errors.Is(err, unix.EPERM):
		err = fmt.Errorf("%w (fentry: refused by this kernel (EPERM))", ErrNeedInterpose)
	case err != nil:
		err = fmt.Errorf("%w (fentry: %w)", ErrNeedInterpose, err)
	default:
		return t.setupPassive()
	}
	t.attached = append(t.attached, Attachment{Hop: tailCallHop, Where: "per packet", Mechanism: TailCallsPassive, Err: err})
	return nil
}

func (t *Tracer) interpose() error {
	if len(t.ownIDs) == 0 {
		return fmt.Errorf("interpose tail calls: no tc observer is attached to hang the jumps under: %w", ErrBadOption)
	}
	cfg := interposeConfig{stateDir: t.opts.StateDir, ifaces: t.opts.Ifaces, skip: map[uint32]bool{}}
	if cfg.stateDir == "" {
		cfg.stateDir = DefaultStateDir
	}
	for _, h := range t.netns {
		cfg.netns = append(cfg.netns, h.path)
	}
	for _, id := range t.ownIDs {
		cfg.skip[uint32(id)] = true
	}
	cfg.ignoreBudget = t.opts.ignoreTailCallBudget
	ip, err := interpose(t.objs, cfg)
	if err != nil {
		return err
	}
	t.interp = ip
	t.closers = append(t.closers, ip)
	n, maps := len(ip.j.Slots), map[uint32]bool{}
	for _, s := range ip.j.Slots {
		maps[s.MapID] = true
	}
	where := fmt.Sprintf("%d prog_array slot(s) in %d map(s)", n, len(maps))
	if n == 0 {
		where = "no tail call found behind the selected devices"
	}
	t.attached = append(t.attached, Attachment{Hop: tailCallHop, Where: where, Mechanism: TailCallsInterpose})
	return nil
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
	if info, err := p.Info(); err == nil && fullName(info) != "" {
		name = fullName(info)
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

// Notices returns, once each, what tail-call interposition has to report:
// slots restored from a killed pktlife's journal at start, slots skipped,
// and, after Close, slots their owner changed meanwhile (left alone).
func (t *Tracer) Notices() []string {
	if t.interp == nil {
		return nil
	}
	out := t.interp.notices[t.noticed:]
	t.noticed = len(t.interp.notices)
	return out
}

// Interposed lists the prog_array slots that hold pktlife's shims.
func (t *Tracer) Interposed() []InterposedSlot {
	if t.interp == nil {
		return nil
	}
	return t.interp.slotsInterposed()
}

// ShimMisses counts packets a shim could not pass on to the original
// program (their tail-call budget was spent): those got TC_ACT_UNSPEC.
func (t *Tracer) ShimMisses() uint64 {
	return t.kernelStat(bpf.PktlifePlStatPL_STAT_SHIM_MISS)
}

// Annotate adds, to each tc hop, the tail calls into empty slots
// that the chain's last program makes with a constant index, marked
// Missed and Inferred: a jump into an empty slot falls through inside the
// caller, where no shim can be. The last program is the target of the
// hop's last observed jump, or the hook's programs when none was observed.
// A program that returned before reaching such a call is reported all the
// same; hence Inferred.
func (ip *interposer) Annotate(j *journey.Journey) {
	if len(ip.missed) == 0 {
		return
	}
	for i := range j.Hops {
		h := &j.Hops[i]
		if !h.Hook.IsTC() {
			continue
		}
		at := h.At
		var last []uint32
		if n := len(h.TailCalls); n > 0 {
			if h.TailCalls[n-1].Missed {
				continue
			}
			last, at = []uint32{h.TailCalls[n-1].Prog.ID}, h.TailCalls[n-1].At
		} else {
			for _, p := range h.Progs {
				last = append(last, p.ID)
			}
		}
		for _, id := range last {
			for _, tc := range ip.missed[id] {
				tc.At = at
				h.TailCalls = append(h.TailCalls, tc)
			}
		}
	}
}
