package demo

import (
	"io"

	"github.com/cilium/ebpf"
)

// TCHook says where AttachTC attaches a program.
type TCHook struct {
	NetnsPath string // namespace of the device
	Ifindex   int    // device index in that namespace
	Egress    bool
	Legacy    bool   // clsact + direct-action cls_bpf instead of tcx
	Priority  uint16 // legacy only; 0 means DefaultPriority
}

// AttachTC attaches prog at h the way the demo datapaths attach theirs, for
// datapaths built elsewhere (the Cilium test bed). Closing the result
// detaches it, and removes a clsact qdisc it created.
func AttachTC(h TCHook, prog *ebpf.Program, name string) (io.Closer, error) {
	a, err := attach(hook{netnsPath: h.NetnsPath, ifindex: h.Ifindex, egress: h.Egress, legacy: h.Legacy, priority: h.Priority}, prog, name)
	if err != nil {
		return nil, err
	}
	return closer{a}, nil
}

type closer struct{ a attachment }

func (c closer) Close() error { return c.a.close() }
