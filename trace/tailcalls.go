package trace

import (
	"errors"
	"fmt"
	"io"

	"github.com/cilium/ebpf"

	"github.com/pktlife/pktlife/bpf"
	"github.com/pktlife/pktlife/trace/journey"
	"github.com/pktlife/pktlife/trace/tailcall"
)

// Tail-call modes, for Options.TailCalls: trace/tailcall's.
const (
	TailCallsAuto      = tailcall.ModeAuto
	TailCallsInterpose = tailcall.ModeInterpose
	TailCallsPassive   = tailcall.ModePassive
	TailCallsOff       = tailcall.ModeOff
)

// Tail-call errors callers test for.
var (
	ErrInterposeBusy  = tailcall.ErrInterposeBusy
	ErrNoDurableState = tailcall.ErrNoDurableState
	ErrTailCallBudget = tailcall.ErrTailCallBudget
	ErrNeedInterpose  = tailcall.ErrNeedInterpose
)

// InterposedSlot is one prog_array slot whose program pktlife shimmed.
type InterposedSlot = tailcall.Slot

// tailCallHop names tail-call tracing in Attached.
const tailCallHop = "tail-calls"

func checkTailCallMode(m string) error {
	if err := tailcall.CheckMode(m); err != nil {
		return fmt.Errorf("%w: %w", err, ErrBadOption)
	}
	return nil
}

// setupTailCalls starts tail-call tracing as Options.TailCalls says, once
// the tc observers are attached.
func (t *Tracer) setupTailCalls() error {
	cfg := tailcall.Config{
		Ifaces:       t.opts.Ifaces,
		StateDir:     t.opts.StateDir,
		IgnoreBudget: t.opts.ignoreTailCallBudget,
		JournalSlots: t.opts.journalSlots,
		Loader:       tailcallLoader{t.objs},
	}
	for _, h := range t.netns {
		cfg.Netns = append(cfg.Netns, h.path)
	}
	for _, id := range t.ownIDs {
		cfg.Own = append(cfg.Own, uint32(id))
	}
	tc, reports, err := tailcall.Start(t.opts.TailCalls, cfg)
	if errors.Is(err, tailcall.ErrNoObserver) {
		err = fmt.Errorf("%w: %w", err, ErrBadOption)
	}
	if err != nil {
		return err
	}
	if tc != nil {
		t.tailCalls = tc
		t.closers = append(t.closers, tc)
	}
	for _, r := range reports {
		t.attached = append(t.attached, Attachment{Hop: tailCallHop, Where: r.Where, Mechanism: r.Mechanism, Err: r.Err})
	}
	return nil
}

// Notices returns, once each, what tail-call interposition has to report:
// slots restored from a killed pktlife's journal at start, slots skipped,
// and, after Close, slots their owner changed meanwhile (left alone).
func (t *Tracer) Notices() []string {
	if ip, ok := t.tailCalls.(*tailcall.Interposer); ok {
		return ip.Notices()
	}
	return nil
}

// Interposed lists the prog_array slots that hold pktlife's shims.
func (t *Tracer) Interposed() []InterposedSlot {
	if ip, ok := t.tailCalls.(*tailcall.Interposer); ok {
		return ip.Slots()
	}
	return nil
}

// ShimMisses counts packets a shim could not pass on to the original
// program (their tail-call budget was spent): those got TC_ACT_UNSPEC.
func (t *Tracer) ShimMisses() uint64 {
	return t.kernelStat(bpf.PktlifePlStatPL_STAT_SHIM_MISS)
}

// tailcallLoader loads tail-call tracing's programs against the tracer's
// maps.
type tailcallLoader struct{ objs *objects }

func (l tailcallLoader) NewShadow(n uint32) (*ebpf.Map, error) {
	ms := l.objs.spec.Maps[bpf.PktlifeMapPlShadow].Copy()
	ms.MaxEntries = n
	m, err := ebpf.NewMap(ms)
	if err != nil {
		return nil, fmt.Errorf("create shadow prog_array: %w", err)
	}
	return m, nil
}

// LoadShim loads one pl_tail_shim for a slot: it records jumps into the
// slot and jumps on through shadow, at the same index. It has the type of
// the programs the prog_array holds.
func (l tailcallLoader) LoadShim(t tailcall.ShimTarget, shadow *ebpf.Map) (*ebpf.Program, error) {
	p, err := l.objs.load(bpf.PktlifeProgPlTailShim, progLoad{
		progType: t.ProgType,
		maps:     map[string]*ebpf.Map{bpf.PktlifeMapPlShadow: shadow},
		set: func(s *bpf.PktlifeSpecs) error {
			s.PlShadow.MaxEntries = shadow.MaxEntries()
			return setAll(setting{s.ShimMapId, t.MapID}, setting{s.ShimSlot, t.Slot}, setting{s.ShimProgId, t.ProgID})
		},
	})
	if err != nil {
		return nil, fmt.Errorf("load tail-call shim: %w", err)
	}
	return p, nil
}

func (l tailcallLoader) AttachEntryExit(p *ebpf.Program, fn string, id uint32) ([]io.Closer, error) {
	return attachTracingPair(l.objs, kfSettings{fn: fn, target: p, arg: 1, nargs: 1, prog: id,
		entryHook: journey.HookProgEntry, exitHook: journey.HookProgExit}, true)
}
