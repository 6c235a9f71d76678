package trace

import (
	"fmt"
	"io"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
)

// Mechanisms by which a tracepoint hop is attached.
const (
	MechTPBTF = "tp_btf"
	MechRawTP = "raw_tp"
)

// tracepointBackend attaches tracepoint hops: a BTF-enabled tracepoint
// program where the kernel takes one, else the raw tracepoint program with
// the same body.
type tracepointBackend struct{}

func (tracepointBackend) probe(objs *objects, h HopDef) (string, error) {
	mech, closers, err := attachTracepoint(objs, h)
	if err != nil {
		return "", err
	}
	return mech, closeAll(closers)
}

// attach attaches the hops concurrently: each has its own programs, and
// their loads are most of the time an attach takes.
func (tracepointBackend) attach(objs *objects, hs []HopDef) attached {
	return concurrently(hs, func(h HopDef) attached {
		var out attached
		mech, closers, err := attachTracepoint(objs, h)
		if err != nil {
			mech = MechTPBTF
		}
		out.closers = closers
		out.report(h.Name, h.tracepoint, mech, err)
		return out
	})
}

// attachTracepoint attaches the hop's tp_btf program, or its raw_tp one.
func attachTracepoint(objs *objects, h HopDef) (mech string, closers []io.Closer, err error) {
	closers, err = attachProgram(objs, h.tpProg, func(p *ebpf.Program) (link.Link, error) {
		return link.AttachTracing(link.TracingOptions{Program: p})
	})
	if err == nil {
		return MechTPBTF, closers, nil
	}
	// A kernel without tp_btf may still have raw tracepoints.
	closers, rerr := attachProgram(objs, h.rawProg, func(p *ebpf.Program) (link.Link, error) {
		return link.AttachRawTracepoint(link.RawTracepointOptions{Name: h.tracepoint, Program: p})
	})
	if rerr == nil {
		return MechRawTP, closers, nil
	}
	return "", nil, fmt.Errorf("attach tracepoint %s: %w; raw_tp: %w", h.tracepoint, err, rerr)
}
