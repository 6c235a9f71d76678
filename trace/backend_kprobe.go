package trace

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/features"
	"github.com/cilium/ebpf/link"

	"github.com/pktlife/pktlife/bpf"
)

// The kprobe half of the kernel-function backend (backend_kfunc.go).

// kprobeProgs maps (argument, deref) to the kprobe program that reads it.
var kprobeProgs = map[[2]int]string{
	{1, 0}: bpf.PktlifeProgPlKprobe10,
	{2, 0}: bpf.PktlifeProgPlKprobe20,
	{3, 0}: bpf.PktlifeProgPlKprobe30,
	{4, 0}: bpf.PktlifeProgPlKprobe40,
	{1, 1}: bpf.PktlifeProgPlKprobe11,
}

func kprobeProg(h HopDef) (string, error) {
	deref := 0
	if h.kfunc.deref {
		deref = 1
	}
	name, ok := kprobeProgs[[2]int{h.kfunc.arg, deref}]
	if !ok {
		return "", fmt.Errorf("attach kprobe: no program for argument %d", h.kfunc.arg)
	}
	return name, nil
}

// attachKprobes attaches the hops fentry could not take: one kprobe.multi
// link per program (that is, per argument position) where the kernel has
// kprobe.multi, else a kprobe per hop.
func (b *kfuncBackend) attachKprobes(objs *objects, wanted []kprobeWanted) attached {
	if b.off[MechKprobe] == nil {
		b.off[MechKprobe] = kprobesAvailable()
	}
	if b.off[MechKprobeMulti] == nil {
		b.off[MechKprobeMulti] = features.HaveBPFLinkKprobeMulti()
	}
	if b.off[MechKprobeMulti] == nil && objs.feat.attachCookie != nil {
		b.off[MechKprobeMulti] = objs.feat.attachCookie // the hop ids are cookies
	}
	groups := map[string][]kprobeWanted{}
	var order []string
	for _, w := range wanted {
		name, _ := kprobeProg(w.h) // a hop without a program fails in attach
		if _, ok := groups[name]; !ok {
			order = append(order, name)
		}
		groups[name] = append(groups[name], w)
	}
	kp := kprobeLoader{objs: objs}
	var out attached
	for _, name := range order {
		g := groups[name]
		if b.off[MechKprobe] == nil && b.off[MechKprobeMulti] == nil && name != "" {
			g = b.attachMulti(objs, name, g, &out)
		}
		for _, w := range g {
			b.attachSingle(&kp, w, &out)
		}
	}
	// the shared programs go first: closed after every link that uses them
	out.closers = append(kp.closers, out.closers...)
	return out
}

// attachMulti attaches group g of program name by one kprobe.multi link
// and returns the hops left to attach one by one. One function ftrace
// cannot trace fails the whole link: those go alone (and are reported),
// the rest share the link.
func (b *kfuncBackend) attachMulti(objs *objects, name string, g []kprobeWanted, out *attached) []kprobeWanted {
	g, alone := splitTraceable(g)
	if len(g) > 0 {
		multi, err := attachKprobeMulti(objs, name, g)
		if err == nil {
			out.add(multi)
			g = nil
		} else {
			b.note(MechKprobeMulti, err)
		}
	}
	return append(g, alone...)
}

// attachSingle attaches one hop by a kprobe of its own, or reports why
// neither fentry nor kprobe could take it.
func (b *kfuncBackend) attachSingle(kp *kprobeLoader, w kprobeWanted, out *attached) {
	kerr := b.off[MechKprobe]
	if kerr == nil {
		var closers []io.Closer
		closers, kerr = kp.attach(w.h, w.fn)
		b.note(MechKprobe, kerr)
		if kerr == nil {
			out.closers = append(out.closers, closers...)
			out.report(w.h.Name, w.fn, MechKprobe, nil)
			return
		}
	}
	out.report(w.h.Name, w.fn, "", &errNoKfuncBackend{w.ferr, kerr})
}

// attachKprobeMulti attaches one kprobe program to all the group's
// functions in one kprobe.multi link, the hop ids as cookies.
func attachKprobeMulti(objs *objects, name string, g []kprobeWanted) (attached, error) {
	opts := link.KprobeMultiOptions{}
	for _, w := range g {
		opts.Symbols = append(opts.Symbols, w.fn)
		opts.Cookies = append(opts.Cookies, uint64(w.h.kfunc.id))
	}
	var out attached
	closers, err := attachProgramWith(objs, name, progLoad{attachType: ebpf.AttachTraceKprobeMulti},
		func(p *ebpf.Program) (link.Link, error) {
			lk, err := link.KprobeMulti(p, opts)
			if err != nil {
				return nil, fmt.Errorf("attach kprobe.multi: %w", err)
			}
			return lk, nil
		})
	if err != nil {
		return out, err
	}
	out.closers = closers
	for _, w := range g {
		out.report(w.h.Name, w.fn, MechKprobeMulti, nil)
	}
	return out, nil
}

// kprobeLoader loads each kprobe program once: it is shared by every hop
// that reads the same argument, the hop's id passed as the attach cookie.
// Where the kernel has no bpf_get_attach_cookie, it loads the program once
// per hop instead, the id as a constant. closers holds the programs it
// loaded.
type kprobeLoader struct {
	objs    *objects
	progs   map[kprobeKey]*ebpf.Program
	closers []io.Closer
}

// kprobeKey names one loaded kprobe program: hop is 0 where programs are
// shared.
type kprobeKey struct {
	name string
	hop  uint32
}

// attach attaches a kprobe for the hop on fn.
func (kp *kprobeLoader) attach(h HopDef, fn string) ([]io.Closer, error) {
	if err := kprobesAvailable(); err != nil {
		return nil, err
	}
	name, err := kprobeProg(h)
	if err != nil {
		return nil, err
	}
	cookies := kp.objs.feat.attachCookie == nil
	key, pl, opts := kprobeKey{name: name}, progLoad{}, &link.KprobeOptions{Cookie: uint64(h.kfunc.id)}
	if !cookies {
		key.hop, opts = h.kfunc.id, nil
		pl.set = func(s *bpf.PktlifeSpecs) error { return s.KfHop.Set(h.kfunc.id) }
	}
	prog, ok := kp.progs[key]
	if !ok {
		if prog, err = kp.objs.load(name, pl); err != nil {
			return nil, err
		}
		if kp.progs == nil {
			kp.progs = map[kprobeKey]*ebpf.Program{}
		}
		kp.progs[key] = prog
		kp.closers = append(kp.closers, prog)
	}
	lk, err := link.Kprobe(fn, prog, opts)
	if err != nil {
		return nil, fmt.Errorf("attach kprobe to %s: %w", fn, err)
	}
	return []io.Closer{lk}, nil
}

// errNoKprobes is returned where the kernel has no kprobes at all.
var errNoKprobes = fmt.Errorf("kprobes not available (no kprobe PMU, no kprobe_events): %w", os.ErrNotExist)

// kprobesAvailable checks for the kprobe PMU or tracefs's kprobe_events:
// cilium/ebpf has no feature probe for them, and link.Kprobe's errors do
// not tell a kernel without kprobes from a function that cannot be probed.
func kprobesAvailable() error {
	for _, p := range []string{
		"/sys/bus/event_source/devices/kprobe/type",
		"/sys/kernel/tracing/kprobe_events",
		"/sys/kernel/debug/tracing/kprobe_events",
	} {
		if _, err := os.Stat(p); err == nil {
			return nil
		}
	}
	return errNoKprobes
}

// splitTraceable separates the functions ftrace lists as traceable
// (kprobe.multi attaches through ftrace) from the others. Where the list
// cannot be read, all count as traceable.
func splitTraceable(g []kprobeWanted) (ok, alone []kprobeWanted) {
	fns := ftraceFuncs()
	if fns == nil {
		return g, nil
	}
	for _, w := range g {
		if fns[w.fn] {
			ok = append(ok, w)
		} else {
			alone = append(alone, w)
		}
	}
	return ok, alone
}

// ftraceFuncs reads tracefs's available_filter_functions once; nil where
// it cannot be read (no tracefs, or refused).
var ftraceFuncs = sync.OnceValue(func() map[string]bool {
	for _, p := range []string{"/sys/kernel/tracing/available_filter_functions", "/sys/kernel/debug/tracing/available_filter_functions"} {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		fns := map[string]bool{}
		for _, line := range strings.Split(string(b), "\n") {
			if name, _, _ := strings.Cut(line, " "); name != "" {
				fns[name] = true
			}
		}
		return fns
	}
	return nil
})
