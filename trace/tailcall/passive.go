package tailcall

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/cilium/ebpf"

	"github.com/pktlife/pktlife/trace/internal/bpfobj"
	"github.com/pktlife/pktlife/trace/journey"
	"github.com/pktlife/pktlife/trace/progs"
	"github.com/pktlife/pktlife/trace/progs/discover"
)

// Passive is tail-call tracing without touching the datapath: fentry and
// fexit on each tc entry program give exact entry and exit times and the
// chain's final verdict (fexit on the entry program fires after the whole
// chain). The jumps in between cannot be observed this way — fentry never
// fires on a program entered by tail call — so the chain is shown from the
// program graph, marked inferred, where the graph allows only one path.
type Passive struct {
	loader  Loader
	graph   *progs.Graph
	nodes   map[uint32]*progs.Node
	closers []io.Closer
}

func startPassive(cfg Config) (_ Tracer, _ []Report, err error) {
	ps := &Passive{loader: cfg.Loader, nodes: map[uint32]*progs.Node{}}
	defer func() {
		if err != nil {
			err = errors.Join(err, ps.Close())
		}
	}()
	skip := skipSet(cfg.Own)
	ps.graph = &progs.Graph{}
	for _, ns := range cfg.Netns {
		g, err := discover.Graph(context.Background(), discover.Options{Netns: ns, Ifaces: cfg.Ifaces, SkipProgIDs: skip})
		if err != nil {
			return nil, nil, fmt.Errorf("trace tail calls passively: %w", err)
		}
		ps.graph.Devices = append(ps.graph.Devices, g.Devices...)
	}
	ps.nodes = ps.graph.Programs()
	var reports []Report
	attached := 0
	for _, e := range ps.graph.EntryPrograms() {
		id := e.Entry.Prog.ID
		if ps.entries()[id] || skip[id] {
			continue
		}
		// A program pktlife cannot trace (no BTF, say) is a reported
		// skip, like any other hop.
		if err := ps.attach(e.Entry.Prog); err != nil {
			reports = append(reports, Report{Where: e.Entry.Prog.Name, Mechanism: ModePassive,
				Err: fmt.Errorf("trace %s (id %d) passively: %w", e.Entry.Prog.Name, id, err)})
			continue
		}
		attached++
	}
	return ps, append(reports, Report{Where: fmt.Sprintf("%d entry program(s)", attached), Mechanism: ModePassive}), nil
}

// entries lists the programs already attached to.
func (ps *Passive) entries() map[uint32]bool {
	out := map[uint32]bool{}
	for _, c := range ps.closers {
		if p, ok := c.(*entryProg); ok {
			out[p.id] = true
		}
	}
	return out
}

// entryProg keeps an entry program open while pktlife traces it.
type entryProg struct {
	id uint32
	p  *ebpf.Program
}

func (e *entryProg) Close() error { return e.p.Close() }

func (ps *Passive) attach(n progs.Node) error {
	p, err := ebpf.NewProgramFromID(ebpf.ProgramID(n.ID))
	if err != nil {
		return fmt.Errorf("open program: %w", err)
	}
	ps.closers = append(ps.closers, &entryProg{id: n.ID, p: p})
	if _, ok := mustInfo(p).BTFID(); !ok {
		return errors.New("the program has no BTF to attach fentry/fexit to")
	}
	fn := n.Name
	if info, err := p.Info(); err == nil && bpfobj.FullName(info) != "" {
		fn = bpfobj.FullName(info)
	}
	cs, err := ps.loader.AttachEntryExit(p, fn, n.ID)
	if err != nil {
		return err
	}
	ps.closers = append(ps.closers, cs...)
	return nil
}

func mustInfo(p *ebpf.Program) *ebpf.ProgramInfo {
	info, err := p.Info()
	if err != nil {
		return &ebpf.ProgramInfo{}
	}
	return info
}

// Close detaches in reverse order of attaching. Safe to call twice.
func (ps *Passive) Close() error {
	var errs []error
	for i := len(ps.closers) - 1; i >= 0; i-- {
		errs = append(errs, ps.closers[i].Close())
	}
	ps.closers = nil
	return errors.Join(errs...)
}

// Annotate fills the tail calls of each tc hop from the graph where it
// allows one path only: every program on the way has at most one filled,
// constant-index slot it can jump to.
func (ps *Passive) Annotate(j *journey.Journey) {
	for i := range j.Hops {
		h := &j.Hops[i]
		if !h.Hook.IsTC() || len(h.TailCalls) > 0 || len(h.Progs) == 0 {
			continue
		}
		n := ps.nodes[h.Progs[0].ID]
		for depth := 0; n != nil && depth < progs.MaxTailCalls; depth++ {
			var next []journey.TailCall
			var nextNode *progs.Node
			for _, m := range n.Maps {
				for _, s := range m.Slots {
					if s.Empty || s.Prog == nil {
						continue
					}
					if m.Dynamic {
						next = append(next, journey.TailCall{}, journey.TailCall{}) // run-time index: ambiguous
						continue
					}
					next = append(next, journey.TailCall{At: h.At, Map: m.Name, MapID: m.ID, Slot: s.Index,
						Prog: journey.Prog{ID: s.Prog.ID, Name: s.Prog.Name}, Inferred: true})
					nextNode = ps.nodes[s.Prog.ID]
				}
			}
			if len(next) != 1 {
				break
			}
			h.TailCalls = append(h.TailCalls, next[0])
			n = nextNode
		}
	}
}
