package trace

import (
	"errors"
	"fmt"
	"runtime"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/pktlife/pktlife/bpf"
)

// HopSupport says whether the running kernel supports a hop, and how.
type HopSupport struct {
	HopDef
	Supported bool
	Mechanism string // tcx, clsact, tp_btf, raw_tp, cgroup_skb, fentry, kprobe …
	Reason    string // why not, when unsupported
}

// ProbeHops finds out, by loading and attaching, which hops this kernel
// supports. It attaches nothing outside a private namespace it creates for
// the probe, and detaches everything before returning. Its programs match
// no packet.
func ProbeHops() ([]HopSupport, error) {
	opts := Options{}
	setDefaults(&opts)
	opts.RingSize = 4096
	opts.MaxTracked = 16
	none := Filter{Proto: 255} // matches nothing
	objs, err := loadObjects(&none, &opts)
	if err != nil {
		return nil, err
	}
	defer objs.Close()
	out := make([]HopSupport, 0, len(catalog))
	for _, h := range catalog {
		s := HopSupport{HopDef: h}
		var err error
		switch h.Kind {
		case KindTracepoint:
			s.Mechanism, err = probeTracepoint(objs, h)
		case KindTC:
			s.Mechanism, err = probeTC(objs, h)
		case KindSocket:
			s.Mechanism, err = probeSocket(objs, h)
		case KindKfunc:
			s.Mechanism, err = probeKfunc(objs, h)
		default:
			err = fmt.Errorf("no backend for %s hops", h.Kind)
		}
		s.Supported = err == nil
		if err != nil {
			s.Reason = err.Error()
		}
		out = append(out, s)
	}
	return out, nil
}

func probeTracepoint(objs *objects, h HopDef) (string, error) {
	prog, err := objs.loadProgram(h.tpProg)
	if err == nil {
		defer prog.Close()
		lk, err := link.AttachTracing(link.TracingOptions{Program: prog})
		if err == nil {
			lk.Close()
			return "tp_btf", nil
		}
	}
	raw, rerr := objs.loadProgram(h.rawProg)
	if rerr == nil {
		defer raw.Close()
		lk, rerr := link.AttachRawTracepoint(link.RawTracepointOptions{Name: h.tracepoint, Program: raw})
		if rerr == nil {
			lk.Close()
			return "raw_tp", nil
		}
	}
	return "", fmt.Errorf("tracepoint %s: %w", h.tracepoint, errors.Join(err, rerr))
}

func probeSocket(objs *objects, h HopDef) (string, error) {
	root, err := cgroup2Root()
	if err != nil {
		return "", err
	}
	name, attach := socketProg(h)
	prog, err := objs.loadProgram(name)
	if err != nil {
		return "", err
	}
	defer prog.Close()
	lk, err := link.AttachCgroup(link.CgroupOptions{Path: root, Attach: attach, Program: prog})
	if err != nil {
		return "", fmt.Errorf("attach to cgroup %s: %w", root, err)
	}
	lk.Close()
	return "cgroup_skb", nil
}

// probeTC attaches to loopback in a private network namespace, made for the
// probe and gone after it: tcx first, else clsact.
func probeTC(objs *objects, h HopDef) (mech string, err error) {
	prog, err := objs.loadProgram(tcProg(h))
	if err != nil {
		return "", err
	}
	defer prog.Close()
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return "", fmt.Errorf("get netns: %w", err)
	}
	defer orig.Close()
	priv, err := netns.New() // moves this thread into a new namespace
	if err != nil {
		runtime.UnlockOSThread()
		return "", fmt.Errorf("create probe netns: %w", err)
	}
	defer func() {
		priv.Close()
		if serr := netns.Set(orig); serr != nil {
			err = errors.Join(err, serr)
			return // leave the thread locked: it dies with the goroutine
		}
		runtime.UnlockOSThread()
	}()
	ns := &nsHandle{fd: priv, name: "probe"}
	if ns.nl, err = netlink.NewHandleAt(priv, unix.NETLINK_ROUTE); err != nil {
		return "", fmt.Errorf("netlink in probe netns: %w", err)
	}
	defer ns.nl.Close()
	lo, err := ns.nl.LinkByName("lo")
	if err != nil {
		return "", fmt.Errorf("find lo in probe netns: %w", err)
	}
	attach := ebpf.AttachTCXEgress
	if h.ingress {
		attach = ebpf.AttachTCXIngress
	}
	lk, err := link.AttachTCX(link.TCXOptions{Interface: lo.Attrs().Index, Program: prog, Attach: attach, Anchor: link.Head()})
	if err == nil {
		lk.Close()
		return MechTCX, nil
	}
	o := &tcObserver{ns: ns, ifindex: lo.Attrs().Index, ifname: "lo", ingress: h.ingress}
	if cerr := o.attachClsact(lo, prog); cerr != nil {
		return "", fmt.Errorf("tcx: %w; clsact: %w", err, cerr)
	}
	return MechClsact, o.Close()
}

// tcProg names the observer program of a tc hop.
func tcProg(h HopDef) string {
	if h.ingress {
		return bpf.PktlifeProgPlTcIngress
	}
	return bpf.PktlifeProgPlTcEgress
}

// socketProg names the observer program of a socket hop and its attach type.
func socketProg(h HopDef) (string, ebpf.AttachType) {
	if h.ingress {
		return bpf.PktlifeProgPlSockIngress, ebpf.AttachCGroupInetIngress
	}
	return bpf.PktlifeProgPlSockEgress, ebpf.AttachCGroupInetEgress
}

// probeKfunc finds the hop's function and tries fentry, then kprobe.
func probeKfunc(objs *objects, h HopDef) (string, error) {
	fn, nargs, err := resolveKfunc(h)
	if err != nil {
		return "", err
	}
	prog, ferr := objs.loadKfuncProgram(bpf.PktlifeProgPlFentry, kfuncSettings(h, fn, nargs))
	if ferr == nil {
		lk, aerr := link.AttachTracing(link.TracingOptions{Program: prog})
		prog.Close()
		if aerr == nil {
			lk.Close()
			if h.kfunc.ret {
				return MechFentry + "+fexit", nil
			}
			return MechFentry, nil
		}
		ferr = aerr
	}
	deref := 0
	if h.kfunc.deref {
		deref = 1
	}
	kerr := kprobesAvailable()
	var kp *ebpf.Program
	if kerr == nil {
		kp, kerr = objs.loadProgram(kprobeProgs[[2]int{h.kfunc.arg, deref}])
	}
	if kerr == nil {
		lk, aerr := link.Kprobe(fn, kp, nil)
		kp.Close()
		if aerr == nil {
			lk.Close()
			return MechKprobe, nil
		}
		kerr = aerr
	}
	return "", &errNoKfuncBackend{ferr, kerr}
}
