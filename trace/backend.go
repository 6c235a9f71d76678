package trace

import (
	"errors"
	"io"
	"sync"

	"github.com/cilium/ebpf"
)

// A backend attaches the hops of one kind (HopDef.Kind), one file each:
// backend_tc.go, backend_tracepoint.go, backend_socket.go and
// backend_kfunc.go. probe finds out whether and how this kernel supports a
// hop by attaching it where no packet is affected and detaching at once;
// attach attaches hops for real. Both go through the same code, so that
// `pktlife hops` reports what trace would do. A backend appends to nothing:
// it returns what it made, and the caller owns it.
type backend interface {
	probe(objs *objects, h HopDef) (mechanism string, err error)
	attach(objs *objects, hs []HopDef) attached
}

// attached is what a backend made of its hops.
type attached struct {
	reports []Attachment // one per hop and place, attached or not
	closers []io.Closer  // in attach order; closed in reverse
	// tcProgs are pktlife's own tc observers: tail-call tracing hangs its
	// jumps under them and leaves them out of the datapath's programs.
	tcProgs []ebpf.ProgramID
}

func (a *attached) add(b attached) {
	a.reports = append(a.reports, b.reports...)
	a.closers = append(a.closers, b.closers...)
	a.tcProgs = append(a.tcProgs, b.tcProgs...)
}

// report records one place a hop was, or was not, attached.
func (a *attached) report(hop, where, mech string, err error) {
	a.reports = append(a.reports, Attachment{Hop: hop, Where: where, Mechanism: mech, Err: err})
}

// backendSet holds a backend per hop kind.
type backendSet map[string]backend

// newBackends returns the backends the options ask for: tc observers on
// devs, kernel-function hops with the selected mechanism.
func newBackends(opts *Options, devs []device) (backendSet, error) {
	kf, err := newKfuncBackend(opts.KfuncBackend)
	if err != nil {
		return nil, err
	}
	return backendSet{
		KindTC:         &tcBackend{devs: devs, legacy: opts.LegacyTC},
		KindTracepoint: tracepointBackend{},
		KindSocket:     socketBackend{},
		KindKfunc:      kf,
	}, nil
}

// attach attaches every hop with its kind's backend, all hops of one kind
// at once (kernel functions share kprobe.multi links). The kinds attach
// concurrently: loading a program is the verifier's work, done in the
// loading thread, and attaching at tc waits for the kernel (a tcx link
// waits for an RCU grace period), so one kind's waits overlap another's
// loads. What they made is joined in the order the kinds' first hops come
// in hs, as if they had attached one after another.
func (bs backendSet) attach(objs *objects, hs []HopDef) attached {
	var kinds []string
	byKind := map[string][]HopDef{}
	for _, h := range hs {
		if _, ok := byKind[h.Kind]; !ok {
			kinds = append(kinds, h.Kind)
		}
		byKind[h.Kind] = append(byKind[h.Kind], h)
	}
	return concurrently(kinds, func(k string) attached { return bs[k].attach(objs, byKind[k]) })
}

// concurrently runs attach for each item in a goroutine of its own and
// joins what they made in the items' order: the reports read, and the
// closers close (in reverse), as if the items had been attached one after
// another.
func concurrently[T any](items []T, attach func(T) attached) attached {
	made := make([]attached, len(items))
	var wg sync.WaitGroup
	for i, it := range items {
		wg.Go(func() { made[i] = attach(it) })
	}
	wg.Wait()
	var out attached
	for _, m := range made {
		out.add(m)
	}
	return out
}

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
	opts := Options{Filter: Filter{Proto: 255}} // matches nothing
	setDefaults(&opts)
	opts.RingSize = 4096
	opts.MaxTracked = 16
	objs, err := loadObjects(&opts)
	if err != nil {
		return nil, err
	}
	defer objs.Close()
	bs, err := newBackends(&opts, nil)
	if err != nil {
		return nil, err
	}
	out := make([]HopSupport, 0, len(catalog))
	for _, h := range catalog {
		s := HopSupport{HopDef: h}
		s.Mechanism, err = bs[h.Kind].probe(objs, h)
		s.Supported = err == nil
		if err != nil {
			s.Reason = err.Error()
		}
		out = append(out, s)
	}
	return out, nil
}

// closeAll closes cs in reverse order and joins their errors.
func closeAll(cs []io.Closer) error {
	var errs []error
	for i := len(cs) - 1; i >= 0; i-- {
		errs = append(errs, cs[i].Close())
	}
	return errors.Join(errs...)
}
