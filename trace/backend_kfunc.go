package trace

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/pktlife/pktlife/bpf"
	"github.com/pktlife/pktlife/trace/journey"
)

// Kernel-function mechanisms, in order of preference.
const (
	MechFentry      = "fentry" // fentry (and fexit for hops with a return value)
	MechKprobe      = "kprobe"
	MechKprobeMulti = "kprobe.multi" // one link for many functions
)

// kfuncBackend attaches kernel-function hops, each with the best mechanism
// that works: fentry (plus fexit where the return value is a verdict),
// else kprobes — all hops that read the same argument in one kprobe.multi
// link where the kernel has it, else one kprobe each. off holds the
// mechanisms known not to work, or not selected, with the reason.
type kfuncBackend struct {
	off map[string]error
}

// newKfuncBackend returns the backend with only the selected mechanism
// and the ones after it ("" selects all).
func newKfuncBackend(sel string) (*kfuncBackend, error) {
	b := &kfuncBackend{off: map[string]error{}}
	notSelected := fmt.Errorf("not selected (kernel-function backend %s)", sel)
	switch sel {
	case "":
	case MechFentry:
		b.off[MechKprobe] = notSelected
	case MechKprobe:
		b.off[MechFentry] = notSelected
		b.off[MechKprobeMulti] = notSelected
	case MechKprobeMulti:
		b.off[MechFentry] = notSelected
	default:
		return nil, fmt.Errorf("select kernel-function backend %q: want fentry, kprobe.multi or kprobe: %w", sel, ErrBadOption)
	}
	return b, nil
}

// probe tries fentry, then a kprobe, on the hop's function.
func (b *kfuncBackend) probe(objs *objects, h HopDef) (string, error) {
	fn, nargs, ferr := objs.resolveKfunc(h)
	if fn == "" {
		return "", ferr
	}
	if ferr == nil {
		var closers []io.Closer
		closers, ferr = attachFentry(objs, h, fn, nargs)
		if ferr == nil {
			return fentryMech(h), closeAll(closers)
		}
	}
	kp := kprobeLoader{objs: objs}
	closers, kerr := kp.attach(h, fn)
	kp.closers = append(kp.closers, closers...)
	if kerr == nil {
		return MechKprobe, closeAll(kp.closers)
	}
	closeAll(kp.closers)
	return "", &errNoKfuncBackend{ferr, kerr}
}

// kprobeWanted is a hop that fentry could not take, waiting for a kprobe.
type kprobeWanted struct {
	h    HopDef
	fn   string
	ferr error
}

// kfuncTry is one hop's way through attach: its function, and what fentry
// made of it.
type kfuncTry struct {
	h       HopDef
	fn      string // "" when the kernel has none of the hop's functions
	nargs   int
	err     error // why not found, or why not fentry
	closers []io.Closer
}

// attach attaches each hop by fentry where it can, the others by kprobe.
// The fentry hops load and attach concurrently, once the first has shown
// that the kernel takes fentry at all (a kernel that refuses one with
// EPERM refuses all: the others need not try); the kprobes follow, in hop
// order.
func (b *kfuncBackend) attach(objs *objects, hs []HopDef) attached {
	tries := make([]kfuncTry, len(hs))
	for i, h := range hs {
		t := kfuncTry{h: h}
		t.fn, t.nargs, t.err = objs.resolveKfunc(h)
		tries[i] = t
	}
	b.attachFentries(objs, tries)
	var out attached
	var wanted []kprobeWanted
	for _, t := range tries {
		switch {
		case t.fn == "":
			out.report(t.h.Name, "", "", t.err)
		case t.err == nil:
			out.closers = append(out.closers, t.closers...)
			out.report(t.h.Name, t.fn, fentryMech(t.h), nil)
		default:
			wanted = append(wanted, kprobeWanted{t.h, t.fn, t.err})
		}
	}
	if len(wanted) > 0 {
		out.add(b.attachKprobes(objs, wanted))
	}
	return out
}

// attachFentries attaches by fentry the hops that may have it: the first
// alone, then, if that did not turn fentry off, the rest concurrently. A
// hop fentry is off for gets the reason as its error, and a kprobe next.
func (b *kfuncBackend) attachFentries(objs *objects, tries []kfuncTry) {
	attach := func(t *kfuncTry) { t.closers, t.err = attachFentry(objs, t.h, t.fn, t.nargs) }
	var wg sync.WaitGroup
	var rest []*kfuncTry
	first := true
	for i := range tries {
		t := &tries[i]
		if off := b.off[MechFentry]; t.fn != "" && off != nil {
			t.err = off
		}
		switch {
		case t.fn == "" || t.err != nil:
		case first:
			// a kernel that refuses one (EPERM) refuses all: the
			// others need not try
			attach(t)
			b.note(MechFentry, t.err)
			first = false
		default:
			rest = append(rest, t)
			wg.Go(func() { attach(t) })
		}
	}
	wg.Wait()
	for _, t := range rest {
		b.note(MechFentry, t.err)
	}
}

// note turns a mechanism off when its error would repeat for every
// function: the kernel refuses the program type, or has no kprobes. Other
// errors (a function that cannot be traced) concern one hop.
func (b *kfuncBackend) note(mech string, err error) {
	if errors.Is(err, unix.EPERM) || errors.Is(err, errNoKprobes) {
		b.off[mech] = err
	}
}

func fentryMech(h HopDef) string {
	if h.kfunc.ret {
		return MechFentry + "+fexit"
	}
	return MechFentry
}

// errNoKfunc is returned for a hop whose functions this kernel lacks.
var errNoKfunc = errors.New("kernel function not found (renamed, inlined, or its module not loaded)")

// errNoFuncBTF is returned (with the function name) for a function the
// kernel has but its BTF does not describe: fentry needs BTF, a kprobe not.
var errNoFuncBTF = errors.New("no BTF for the function")

// resolveKfunc is resolveKfunc under the objects' BTF lock (see btfMu).
func (o *objects) resolveKfunc(h HopDef) (name string, nargs int, err error) {
	o.btfMu.Lock()
	defer o.btfMu.Unlock()
	return resolveKfunc(o.btf, h)
}

// resolveKfunc finds which of the hop's functions the kernel has, in vmlinux
// or a loaded module, and its parameter count. A function that only
// /proc/kallsyms knows (a module's, where the kernel has no module BTF) is
// returned with an error that rules out fentry.
func resolveKfunc(cache *btf.Cache, h HopDef) (name string, nargs int, err error) {
	for _, fn := range h.kfunc.funcs {
		f, err := findFunc(cache, fn)
		if err != nil {
			continue
		}
		proto, ok := f.Type.(*btf.FuncProto)
		if !ok {
			continue
		}
		return fn, len(proto.Params), nil
	}
	syms, err := kallsyms()
	if err != nil {
		return "", 0, errNoKfunc
	}
	for _, fn := range h.kfunc.funcs {
		mod, ok := syms[fn]
		if !ok {
			continue
		}
		if mod == "" {
			return fn, 0, fmt.Errorf("%w %s in vmlinux", errNoFuncBTF, fn)
		}
		if _, err := os.Stat("/sys/kernel/btf/" + mod); err != nil {
			return fn, 0, fmt.Errorf("%w %s: module %s has no BTF (this kernel has no module BTF)", errNoFuncBTF, fn, mod)
		}
		return fn, 0, fmt.Errorf("%w %s in module %s", errNoFuncBTF, fn, mod)
	}
	return "", 0, errNoKfunc
}

// findFunc looks a function up in vmlinux's BTF, then in loaded modules'.
func findFunc(cache *btf.Cache, name string) (*btf.Func, error) {
	spec, err := cache.Kernel()
	if err != nil {
		return nil, err
	}
	var f *btf.Func
	if err := spec.TypeByName(name, &f); err == nil {
		return f, nil
	}
	mods, err := cache.Modules()
	if err != nil {
		return nil, fmt.Errorf("find %s: %w", name, err)
	}
	for _, m := range mods {
		mod, err := cache.Module(m)
		if err != nil {
			continue
		}
		if err := mod.TypeByName(name, &f); err == nil {
			return f, nil
		}
	}
	return nil, fmt.Errorf("find %s: %w", name, btf.ErrNotFound)
}

// errNoKfuncBackend says why no kernel-function hop can attach.
type errNoKfuncBackend struct{ fentry, kprobe error }

func (e *errNoKfuncBackend) Error() string {
	return fmt.Sprintf("fentry: %v; kprobe: %v", shortBackendErr(e.fentry), shortBackendErr(e.kprobe))
}

func (e *errNoKfuncBackend) Unwrap() []error { return []error{e.fentry, e.kprobe} }

// shortBackendErr says in a few words why a backend does not work.
func shortBackendErr(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, unix.EPERM):
		return "refused by this kernel (EPERM)"
	case errors.Is(err, errNoKprobes):
		return "not available (no kprobe PMU, no kprobe_events)"
	case errors.Is(err, os.ErrNotExist), errors.Is(err, ebpf.ErrNotSupported):
		return "not available on this kernel"
	}
	return err.Error()
}

// attachFentry loads pl_fentry for the hop's function, and pl_fexit where
// its return value means something, and attaches them.
func attachFentry(objs *objects, h HopDef, fn string, nargs int) ([]io.Closer, error) {
	return attachTracingPair(objs, kfSettings{fn: fn, hop: h.kfunc.id, arg: uint32(h.kfunc.arg), deref: h.kfunc.deref,
		nargs: uint32(nargs), entryHook: journey.HookKfunc, exitHook: journey.HookKfuncRet}, h.kfunc.ret)
}

// kfSettings are the constants of one pl_fentry/pl_fexit load.
type kfSettings struct {
	fn        string        // kernel function, or the BPF program's function
	target    *ebpf.Program // nil for a kernel function
	hop       uint32
	arg       uint32
	deref     bool
	nargs     uint32
	entryHook journey.Hook
	exitHook  journey.Hook
	prog      uint32 // target program id, for passive tail calls
}

// set writes the settings into the program's constants.
func (ks kfSettings) set(s *bpf.PktlifeSpecs) error {
	deref := uint32(0)
	if ks.deref {
		deref = 1
	}
	v := s.PktlifeVariableSpecs
	return setAll(
		setting{v.KfHop, ks.hop}, setting{v.KfArg, ks.arg}, setting{v.KfDeref, deref}, setting{v.KfNargs, ks.nargs},
		setting{v.KfEntryHook, uint32(ks.entryHook)}, setting{v.KfExitHook, uint32(ks.exitHook)}, setting{v.KfProg, ks.prog},
	)
}

// attachTracingPair loads and attaches pl_fentry and, with exit, pl_fexit.
func attachTracingPair(objs *objects, ks kfSettings, exit bool) (closers []io.Closer, err error) {
	names := []string{bpf.PktlifeProgPlFentry}
	if exit {
		names = append(names, bpf.PktlifeProgPlFexit)
	}
	for _, name := range names {
		cs, err := attachProgramWith(objs, name, progLoad{attachTo: ks.fn, target: ks.target, set: ks.set},
			func(p *ebpf.Program) (link.Link, error) {
				lk, err := link.AttachTracing(link.TracingOptions{Program: p})
				if err != nil {
					return nil, fmt.Errorf("attach %s to %s: %w", name, ks.fn, err)
				}
				return lk, nil
			})
		if err != nil {
			return nil, errors.Join(err, closeAll(closers))
		}
		closers = append(closers, cs...)
	}
	return closers, nil
}
