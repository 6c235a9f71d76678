package trace

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/features"
	"golang.org/x/sys/unix"

	"github.com/pktlife/pktlife/bpf"
)

// kernelFeatures are the kernel facilities pktlife's one compiled object
// adapts to. Each is found by a probe (the kernel's BTF, a helper probe, a
// test map), never by the kernel's version; a missing one selects another
// code path through a constant, or turns a mechanism off with its reason.
type kernelFeatures struct {
	// funcArg: tracing programs may call bpf_get_func_arg and
	// bpf_get_func_ret (5.17). Without them fentry/fexit read the
	// trampoline's argument slots with bpf_probe_read_kernel.
	funcArg bool
	// attachCookie: kprobes may call bpf_get_attach_cookie (5.15). Without
	// it each kprobe is loaded per hop with the hop's id as a constant, and
	// kprobe.multi (which needs cookies) is off.
	attachCookie error
	// kfreeReason: the kfree_skb tracepoint passes a drop reason (5.17).
	kfreeReason bool
	// fastParse: the kfuncs bpf_rdonly_cast and bpf_cast_to_kern_ctx
	// (6.2), with which the tp_btf, tc and cgroup_skb observers read the
	// headers in place with plain loads instead of a helper call per
	// packet.
	fastParse bool
	// runOnCPU: a raw_tp program can be run on a chosen CPU with
	// BPF_PROG_TEST_RUN (5.10), which flushing per-CPU staged events
	// needs (staging.go). Without it events go to the rings one by one.
	runOnCPU error
	// atomics: BPF programs may compare and exchange (5.12), with which
	// cgroup egress, which may be preempted, claims a CPU's staging
	// buffer (pl_sock_egress_cas). Without them it writes each event to
	// its ring.
	atomics error
}

// probeFeatures probes what objects.load needs to know before loading.
func probeFeatures(cache *btf.Cache) kernelFeatures {
	f := kernelFeatures{
		funcArg:      kernelHasHelper(cache, "BPF_FUNC_get_func_arg"),
		attachCookie: haveHelper(ebpf.Kprobe, asm.FnGetAttachCookie, "bpf_get_attach_cookie"),
		kfreeReason:  tracepointArgs(cache, "kfree_skb") >= 3,
		fastParse:    kernelHasFunc(cache, "bpf_rdonly_cast") && kernelHasFunc(cache, "bpf_cast_to_kern_ctx"),
		runOnCPU:     stagingOpt(haveRunOnCPU()),
		atomics:      haveAtomics(),
	}
	return f
}

// set writes the features into the spec's constants.
func (f kernelFeatures) set(specs *bpf.PktlifeSpecs) error {
	b := func(v bool) uint8 {
		if v {
			return 1
		}
		return 0
	}
	for _, s := range []struct {
		spec *ebpf.VariableSpec
		val  uint8
	}{
		{specs.KfNoFuncArg, b(!f.funcArg)},
		{specs.KpNoCookie, b(f.attachCookie != nil)},
		{specs.TpKfreeReason, b(f.kfreeReason)},
		{specs.FastParse, b(f.fastParse)},
		{specs.StageOn, b(f.runOnCPU == nil)},
	} {
		if err := s.spec.Set(s.val); err != nil {
			return fmt.Errorf("set %s: %w", s.spec.Name, err)
		}
	}
	return nil
}

// kernelHasHelper says whether the kernel's enum bpf_func_id names the
// helper: a kernel knows exactly the helpers its own BTF lists. Used for
// tracing helpers, which cilium/ebpf's helper probes do not cover.
func kernelHasHelper(cache *btf.Cache, name string) bool {
	spec, err := cache.Kernel()
	if err != nil {
		return false
	}
	var e *btf.Enum
	if err := spec.TypeByName("bpf_func_id", &e); err != nil {
		return false
	}
	for _, v := range e.Values {
		if v.Name == name {
			return true
		}
	}
	return false
}

// kernelHasFunc says whether the kernel's BTF has a function: a kfunc
// exists where its BTF does.
func kernelHasFunc(cache *btf.Cache, name string) bool {
	spec, err := cache.Kernel()
	if err != nil {
		return false
	}
	var fn *btf.Func
	return spec.TypeByName(name, &fn) == nil
}

// haveHelper probes whether programs of type pt may call helper.
func haveHelper(pt ebpf.ProgramType, helper asm.BuiltinFunc, name string) error {
	err := features.HaveProgramHelper(pt, helper)
	if errors.Is(err, ebpf.ErrNotSupported) {
		return fmt.Errorf("this kernel has no %s for %s programs: %w", name, pt, err)
	}
	return err
}

// tracepointArgs returns how many arguments a tracepoint passes, from the
// kernel's btf_trace_<name> typedef (its first parameter is the context),
// or 0 when the kernel's BTF does not say.
func tracepointArgs(cache *btf.Cache, name string) int {
	spec, err := cache.Kernel()
	if err != nil {
		return 0
	}
	var td *btf.Typedef
	if err := spec.TypeByName("btf_trace_"+name, &td); err != nil {
		return 0
	}
	ptr, ok := td.Type.(*btf.Pointer)
	if !ok {
		return 0
	}
	proto, ok := ptr.Target.(*btf.FuncProto)
	if !ok || len(proto.Params) == 0 {
		return 0
	}
	return len(proto.Params) - 1
}

// kallsyms says in which module ("" for vmlinux) the kernel has each of
// the catalog's kernel functions that it has, from /proc/kallsyms: kprobes
// need no BTF. It keeps those only: the file lists every symbol of the
// kernel (~120k), and a map of them all took ~100 ms of CPU to build.
var kallsyms = sync.OnceValues(func() (map[string]string, error) {
	f, err := os.Open("/proc/kallsyms")
	if err != nil {
		return nil, fmt.Errorf("read kernel symbols: %w", err)
	}
	defer f.Close()
	want := map[string]bool{}
	for _, h := range kfuncHops {
		for _, fn := range h.kfunc.funcs {
			want[fn] = true
		}
	}
	syms, err := parseKallsyms(f, want)
	if err != nil {
		return nil, fmt.Errorf("read kernel symbols: %w", err)
	}
	return syms, nil
})

// parseKallsyms reads /proc/kallsyms's lines ("address type name", and
// "\t[module]" for a module's symbol) and returns the module of each text
// symbol named in want; the first line of a name wins.
func parseKallsyms(r io.Reader, want map[string]bool) (map[string]string, error) {
	syms := make(map[string]string)
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		_, rest, _ := bytes.Cut(sc.Bytes(), []byte{' '})
		typ, rest, ok := bytes.Cut(rest, []byte{' '})
		if !ok || len(typ) != 1 || (typ[0] != 't' && typ[0] != 'T') {
			continue
		}
		name, mod, _ := bytes.Cut(rest, []byte{'\t'})
		if !want[string(name)] {
			continue
		}
		if _, ok := syms[string(name)]; !ok {
			syms[string(name)] = string(bytes.Trim(bytes.TrimSpace(mod), "[]"))
		}
	}
	return syms, sc.Err()
}

// Feature is one kernel facility pktlife adapts to, as `pktlife hops`
// reports it.
type Feature struct {
	Name      string
	Available bool
	Detail    string // what pktlife does with it, or instead of it
}

// ProbeFeatures reports the kernel facilities pktlife's programs adapt to,
// each found by probing the running kernel.
func ProbeFeatures() ([]Feature, error) {
	cache := btf.NewCache()
	if _, err := cache.Kernel(); err != nil {
		return nil, fmt.Errorf("%w: %w", errNoKernelBTF, err)
	}
	f := probeFeatures(cache)
	multi := features.HaveBPFLinkKprobeMulti()
	mod := moduleBTF()
	ring := haveRingInMap()
	passive := haveFentryOnBPF()
	interpose := features.HaveMapType(ebpf.ProgramArray)
	return []Feature{
		{"bpf_get_func_arg", f.funcArg, pick(f.funcArg, "fentry/fexit read arguments and return value with the helpers",
			"fentry/fexit read the trampoline's argument slots with bpf_probe_read_kernel")},
		{"bpf_get_attach_cookie", f.attachCookie == nil, pick(f.attachCookie == nil, "one kprobe program per argument, the hop as cookie",
			"one kprobe program per hop, the hop as a constant")},
		{"kprobe.multi", multi == nil, pick(multi == nil, "kernel-function hops share one link per argument",
			"one kprobe link per hop")},
		{"module BTF", mod == nil, pick(mod == nil, "fentry on module functions (bonding, ipvlan, veth)",
			"module functions by kprobe only: "+errString(mod))},
		{"kfree_skb reason", f.kfreeReason, pick(f.kfreeReason, "drops carry the kernel's reason",
			"drops carry no reason (the tracepoint passes none)")},
		{"bpf_rdonly_cast", f.fastParse, pick(f.fastParse, "observers read packet headers with plain loads",
			"observers read packet headers with a helper call (bpf_rdonly_cast and bpf_cast_to_kern_ctx came with 6.2)")},
		{"ringbuf in array of maps", ring == nil, pick(ring == nil, "one ring buffer per CPU", errString(ring))},
		{"run on a CPU (raw_tp)", f.runOnCPU == nil, pick(f.runOnCPU == nil,
			"events staged per CPU, several per ring record", "one ring record per event: "+errString(f.runOnCPU))},
		{"BPF atomics", f.atomics == nil, pick(f.atomics == nil,
			"socket sends stage their events too (compare-and-exchange)", "socket sends write each event to the ring: "+errString(f.atomics))},
		{"tail calls: interpose", interpose == nil, pick(interpose == nil, "shims in prog_array slots: exact per-packet chains",
			errString(interpose))},
		{"tail calls: passive", passive == nil, pick(passive == nil, "fentry/fexit on tc entry programs, chains inferred (the default)",
			"no fentry on BPF programs: "+errString(passive))},
	}, nil
}

func pick(ok bool, yes, no string) string {
	if ok {
		return yes
	}
	return no
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// haveRingInMap creates an array of maps with a ring buffer inside, as
// loadObjects does.
func haveRingInMap() error {
	inner := &ebpf.MapSpec{Type: ebpf.RingBuf, MaxEntries: 4096}
	m, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.ArrayOfMaps, KeySize: 4, ValueSize: 4, MaxEntries: 1, InnerMap: inner})
	if err != nil {
		return fmt.Errorf("this kernel takes no ring buffer inside an array of maps: %w", err)
	}
	return m.Close()
}

// haveRunOnCPU runs a raw_tp program on CPU 0 with BPF_PROG_TEST_RUN and
// BPF_F_TEST_RUN_ON_CPU, as the staging flush does.
func haveRunOnCPU() error {
	p, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Type: ebpf.RawTracepoint, License: "GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 7), asm.Return()},
	})
	if err != nil {
		return fmt.Errorf("load raw_tp program: %w", shortErr(err))
	}
	defer p.Close()
	ret, err := p.Run(&ebpf.RunOptions{Flags: unix.BPF_F_TEST_RUN_ON_CPU, CPU: 0})
	if err != nil {
		return fmt.Errorf("run raw_tp program on a CPU: %w", err)
	}
	if ret != 7 {
		return fmt.Errorf("run raw_tp program on a CPU: returned %d, not 7", ret)
	}
	return nil
}

// haveAtomics loads a program that compares and exchanges a stack slot,
// as stage_take_cas does the staging buffer's flag.
func haveAtomics() error {
	p, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Type: ebpf.RawTracepoint, License: "GPL", Instructions: atomicsProbe(),
	})
	if err != nil {
		return fmt.Errorf("this kernel has no BPF atomics (5.12): %w", shortErr(err))
	}
	return p.Close()
}

// atomicsProbe is haveAtomics' program.
func atomicsProbe() asm.Instructions {
	cmpxchg := asm.CmpXchg.Mem(asm.RFP, asm.R1, asm.DWord, -8)
	// cilium/ebpf v0.22 encodes an atomic's operation into the immediate
	// from Constant, which Mem leaves 0 (an atomic add, which 5.10 has):
	// set it as its ELF reader does.
	cmpxchg.Constant = int64(asm.CmpXchg >> 8)
	return asm.Instructions{
		asm.Mov.Imm(asm.R2, 0),
		asm.StoreMem(asm.RFP, -8, asm.R2, asm.DWord),
		asm.Mov.Imm(asm.R0, 0),
		asm.Mov.Imm(asm.R1, 1),
		cmpxchg,
		asm.Return(),
	}
}

// moduleBTF says whether loaded modules come with BTF: a module listed in
// /proc/modules without /sys/kernel/btf/<module> means they do not.
func moduleBTF() error {
	b, err := os.ReadFile("/proc/modules")
	if err != nil {
		return fmt.Errorf("no loadable modules: %w", err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	for _, l := range lines {
		name, _, _ := strings.Cut(l, " ")
		if name == "" {
			continue
		}
		if _, err := os.Stat("/sys/kernel/btf/" + name); err != nil {
			return fmt.Errorf("module %s has no BTF (this kernel has no module BTF)", name)
		}
		return nil
	}
	return errors.New("no module loaded to tell")
}

// haveFentryOnBPF loads an fentry program on a tc program of its own, as
// passive tail-call tracing does on the datapath's entry programs.
func haveFentryOnBPF() error {
	ret0 := asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()}
	// fentry needs its target's BTF: give the probe's tc program some
	fn := &btf.Func{Name: "pl_probe_tc", Linkage: btf.GlobalFunc, Type: &btf.FuncProto{
		Return: &btf.Int{Name: "int", Size: 4, Encoding: btf.Signed},
		Params: []btf.FuncParam{{Name: "skb", Type: &btf.Pointer{Target: &btf.Void{}}}},
	}}
	insns := slices.Clone(ret0)
	insns[0] = btf.WithFuncMetadata(insns[0].WithSymbol(fn.Name), fn)
	tc, err := ebpf.NewProgram(&ebpf.ProgramSpec{Name: "pl_probe_tc", Type: ebpf.SchedCLS, License: "GPL", Instructions: insns})
	if err != nil {
		return fmt.Errorf("load tc program: %w", err)
	}
	defer tc.Close()
	fe, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Type: ebpf.Tracing, AttachType: ebpf.AttachTraceFEntry, AttachTarget: tc, AttachTo: "pl_probe_tc",
		License: "GPL", Instructions: ret0,
	})
	if errors.Is(err, unix.EPERM) {
		return errors.New("refused by this kernel (EPERM)")
	}
	if err != nil {
		return shortErr(err)
	}
	return fe.Close()
}

// shortErr keeps a verifier error to its first line.
func shortErr(err error) error {
	var ve *ebpf.VerifierError
	if errors.As(err, &ve) {
		return ve.Cause
	}
	return err
}

// errStagingOff is why staging is off where the kernel could flush: the
// user said so. PKTLIFE_STAGE=0 writes every event straight to its ring,
// to tell staging's part in a problem from the rest.
var errStagingOff = errors.New("staging turned off (PKTLIFE_STAGE=0)")

// stagingOpt turns the run-on-CPU probe into whether events are staged.
func stagingOpt(probe error) error {
	if probe == nil && os.Getenv("PKTLIFE_STAGE") == "0" {
		return errStagingOff
	}
	return probe
}
