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

// Kernel-function backends, in order of preference.
const (
	MechFentry      = "fentry" // fentry (and fexit for hops with a return value)
	MechKprobe      = "kprobe"
	MechKprobeMulti = "kprobe.multi" // one link for many functions
)

// errNoKfunc is returned for a hop whose functions this kernel lacks.
var errNoKfunc = errors.New("kernel function not found (renamed, inlined, or its module not loaded)")

// kernelBTF is the running kernel's BTF, loaded once.
var kernelBTF = sync.OnceValues(btf.LoadKernelSpec)

// resolveKfunc finds which of the hop's functions the kernel has, in vmlinux
// or a loaded module, and its parameter count.
func resolveKfunc(h HopDef) (name string, nargs int, err error) {
	for _, fn := range h.kfunc.funcs {
		f, err := findFunc(fn)
		if err != nil {
			continue
		}
		proto, ok := f.Type.(*btf.FuncProto)
		if !ok {
			continue
		}
		return fn, len(proto.Params), nil
	}
	return "", 0, errNoKfunc
}

// findFunc looks a function up in vmlinux's BTF, then in loaded modules'.
func findFunc(name string) (*btf.Func, error) {
	spec, err := kernelBTF()
	if err != nil {
		return nil, err
	}
	var f *btf.Func
	if err := spec.TypeByName(name, &f); err == nil {
		return f, nil
	}
	it := new(btf.HandleIterator)
	defer it.Handle.Close()
	for it.Next() {
		info, err := it.Handle.Info()
		if err != nil || !info.IsModule() {
			continue
		}
		mod, err := it.Handle.Spec(spec)
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

// errBackend marks an error that holds for every function, not just one:
// once seen, the backend is not tried again.
type errBackend struct{ err error }

func (e errBackend) Error() string { return e.err.Error() }
func (e errBackend) Unwrap() error { return e.err }

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

// backendLevel reports whether a backend's error would repeat for every
// function: the kernel refuses the program type, or has no kprobes. Other
// errors (a function that cannot be traced) concern one hop.
func backendLevel(err error) bool {
	return errors.Is(err, unix.EPERM) || errors.Is(err, errNoKprobes)
}

// kprobeWanted is a hop that fentry could not take, waiting for a kprobe.
type kprobeWanted struct {
	h    HopDef
	fn   string
	ferr error
}

// attachKfuncs attaches the kernel-function hops, each with the best
// backend that works: fentry (plus fexit where the return value is a
// verdict), else kprobes — all hops that read the same argument in one
// kprobe.multi link where the kernel has it, else one kprobe each.
func (t *Tracer) attachKfuncs(hs []HopDef) {
	var wanted []kprobeWanted
	for _, h := range hs {
		fn, nargs, err := resolveKfunc(h)
		if err != nil {
			t.attached = append(t.attached, Attachment{Hop: h.Name, Err: err})
			continue
		}
		ferr := t.kfuncErr[MechFentry]
		if ferr == nil {
			var closers []io.Closer
			closers, ferr = t.attachFentry(h, fn, nargs)
			if backendLevel(ferr) {
				t.kfuncErr[MechFentry] = ferr
			}
			if ferr == nil {
				mech := MechFentry
				if h.kfunc.ret {
					mech += "+fexit"
				}
				t.closers = append(t.closers, closers...)
				t.attached = append(t.attached, Attachment{Hop: h.Name, Where: fn, Mechanism: mech})
				continue
			}
		}
		wanted = append(wanted, kprobeWanted{h, fn, ferr})
	}
	if len(wanted) == 0 {
		return
	}
	if t.kfuncErr[MechKprobe] == nil {
		t.kfuncErr[MechKprobe] = kprobesAvailable()
	}
	// one kprobe.multi link per program, i.e. per argument position
	groups := map[string][]kprobeWanted{}
	var order []string
	for _, w := range wanted {
		name := kprobeProgs[kprobeKey(w.h)]
		if _, ok := groups[name]; !ok {
			order = append(order, name)
		}
		groups[name] = append(groups[name], w)
	}
	for _, name := range order {
		g := groups[name]
		if t.kfuncErr[MechKprobe] == nil && t.kfuncErr[MechKprobeMulti] == nil {
			if err := t.attachKprobeMulti(name, g); err == nil {
				continue
			} else if backendLevel(err) || errors.Is(err, ebpf.ErrNotSupported) {
				t.kfuncErr[MechKprobeMulti] = err
			}
		}
		for _, w := range g {
			t.attachOneKprobe(w)
		}
	}
}

func (t *Tracer) attachOneKprobe(w kprobeWanted) {
	a := Attachment{Hop: w.h.Name, Where: w.fn}
	kerr := t.kfuncErr[MechKprobe]
	if kerr == nil {
		var closers []io.Closer
		closers, kerr = t.attachKprobe(w.h, w.fn)
		if backendLevel(kerr) {
			t.kfuncErr[MechKprobe] = kerr
		}
		if kerr == nil {
			a.Mechanism = MechKprobe
			t.closers = append(t.closers, closers...)
			t.attached = append(t.attached, a)
			return
		}
	}
	a.Err = &errNoKfuncBackend{w.ferr, kerr}
	t.attached = append(t.attached, a)
}

// attachKprobeMulti attaches one kprobe program to all the group's
// functions in one kprobe.multi link, the hop ids as cookies.
func (t *Tracer) attachKprobeMulti(name string, g []kprobeWanted) error {
	prog, err := t.objs.loadProgramAs(name, ebpf.AttachTraceKprobeMulti)
	if err != nil {
		return err
	}
	opts := link.KprobeMultiOptions{}
	for _, w := range g {
		opts.Symbols = append(opts.Symbols, w.fn)
		opts.Cookies = append(opts.Cookies, uint64(w.h.kfunc.id))
	}
	lk, err := link.KprobeMulti(prog, opts)
	if err != nil {
		prog.Close()
		return fmt.Errorf("attach kprobe.multi: %w", err)
	}
	t.closers = append(t.closers, prog, lk)
	for _, w := range g {
		t.attached = append(t.attached, Attachment{Hop: w.h.Name, Where: w.fn, Mechanism: MechKprobeMulti})
	}
	return nil
}

func kprobeKey(h HopDef) [2]int {
	deref := 0
	if h.kfunc.deref {
		deref = 1
	}
	return [2]int{h.kfunc.arg, deref}
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

func kfuncSettings(h HopDef, fn string, nargs int) kfSettings {
	return kfSettings{fn: fn, hop: h.kfunc.id, arg: uint32(h.kfunc.arg), deref: h.kfunc.deref, nargs: uint32(nargs),
		entryHook: journey.HookKfunc, exitHook: journey.HookKfuncRet}
}

// loadKfuncProgram loads pl_fentry or pl_fexit for one function with its
// settings as constants.
func (o *objects) loadKfuncProgram(name string, ks kfSettings) (*ebpf.Program, error) {
	ps, ok := o.spec.Programs[name]
	if !ok {
		return nil, fmt.Errorf("load program %s: not in the object", name)
	}
	one := o.spec.Copy()
	ps = ps.Copy()
	ps.AttachTo = ks.fn
	ps.AttachTarget = ks.target
	one.Programs = map[string]*ebpf.ProgramSpec{name: ps}
	deref := uint32(0)
	if ks.deref {
		deref = 1
	}
	for _, kv := range []struct {
		name string
		val  uint32
	}{
		{"kf_hop", ks.hop}, {"kf_arg", ks.arg}, {"kf_deref", deref}, {"kf_nargs", ks.nargs},
		{"kf_entry_hook", uint32(ks.entryHook)}, {"kf_exit_hook", uint32(ks.exitHook)}, {"kf_prog", ks.prog},
	} {
		vs, ok := one.Variables[kv.name]
		if !ok {
			return nil, fmt.Errorf("set %s: not in the object", kv.name)
		}
		if err := vs.Set(kv.val); err != nil {
			return nil, fmt.Errorf("set %s: %w", kv.name, err)
		}
	}
	coll, err := ebpf.NewCollectionWithOptions(one, ebpf.CollectionOptions{MapReplacements: o.repl, Cache: o.btfCache})
	if err != nil {
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			return nil, fmt.Errorf("load %s for %s: %+v", name, ks.fn, ve)
		}
		return nil, fmt.Errorf("load %s for %s: %w", name, ks.fn, err)
	}
	defer coll.Close()
	return coll.DetachProgram(name), nil
}

// attachTracingPair loads and attaches pl_fentry and, with exit, pl_fexit.
func (o *objects) attachTracingPair(ks kfSettings, exit bool) (closers []io.Closer, err error) {
	defer func() {
		if err != nil {
			closeAll(closers)
			closers = nil
		}
	}()
	names := []string{bpf.PktlifeProgPlFentry}
	if exit {
		names = append(names, bpf.PktlifeProgPlFexit)
	}
	for _, name := range names {
		prog, err := o.loadKfuncProgram(name, ks)
		if err != nil {
			return closers, err
		}
		closers = append(closers, prog)
		lk, err := link.AttachTracing(link.TracingOptions{Program: prog})
		if err != nil {
			return closers, fmt.Errorf("attach %s to %s: %w", name, ks.fn, err)
		}
		closers = append(closers, lk)
	}
	return closers, nil
}

func (t *Tracer) attachFentry(h HopDef, fn string, nargs int) ([]io.Closer, error) {
	return t.objs.attachTracingPair(kfuncSettings(h, fn, nargs), h.kfunc.ret)
}

// kprobeProgs maps (argument, deref) to the kprobe program that reads it.
var kprobeProgs = map[[2]int]string{
	{1, 0}: bpf.PktlifeProgPlKprobe10,
	{2, 0}: bpf.PktlifeProgPlKprobe20,
	{3, 0}: bpf.PktlifeProgPlKprobe30,
	{4, 0}: bpf.PktlifeProgPlKprobe40,
	{1, 1}: bpf.PktlifeProgPlKprobe11,
}

// errNoKprobes is returned where the kernel has no kprobes at all.
var errNoKprobes = fmt.Errorf("kprobes not available (no kprobe PMU, no kprobe_events): %w", os.ErrNotExist)

// kprobesAvailable checks for the kprobe PMU or tracefs's kprobe_events.
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

func (t *Tracer) attachKprobe(h HopDef, fn string) ([]io.Closer, error) {
	if err := kprobesAvailable(); err != nil {
		return nil, err
	}
	name, ok := kprobeProgs[kprobeKey(h)]
	if !ok {
		return nil, fmt.Errorf("no kprobe program for argument %d", h.kfunc.arg)
	}
	prog, err := t.kprobeProgram(name)
	if err != nil {
		return nil, err
	}
	lk, err := link.Kprobe(fn, prog, &link.KprobeOptions{Cookie: uint64(h.kfunc.id)})
	if err != nil {
		return nil, fmt.Errorf("attach kprobe to %s: %w", fn, err)
	}
	return []io.Closer{lk}, nil
}

// kprobeProgram loads a kprobe program once; it is shared by every hop that
// reads the same argument.
func (t *Tracer) kprobeProgram(name string) (*ebpf.Program, error) {
	if p, ok := t.kprobes[name]; ok {
		return p, nil
	}
	p, err := t.objs.loadProgram(name)
	if err != nil {
		return nil, err
	}
	if t.kprobes == nil {
		t.kprobes = map[string]*ebpf.Program{}
	}
	t.kprobes[name] = p
	t.closers = append(t.closers, p)
	return p, nil
}

func closeAll(cs []io.Closer) {
	for i := len(cs) - 1; i >= 0; i-- {
		cs[i].Close()
	}
}
