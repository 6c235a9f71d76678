//go:build linux

package discover

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/pktlife/pktlife/trace/progs"
)

// queryTCX reads the device's tcx chains. It must run in the device's
// namespace: the kernel resolves the ifindex there. Kernels without tcx
// (before 6.6) simply have no tcx programs.
func (d *rawDevice) queryTCX() error {
	for _, dir := range []struct {
		attach   ebpf.AttachType
		entries  *[]rawEntry
		revision *uint64
		name     string
	}{
		{ebpf.AttachTCXIngress, &d.ingress, &d.IngressRevision, progs.Ingress},
		{ebpf.AttachTCXEgress, &d.egress, &d.EgressRevision, progs.Egress},
	} {
		res, err := link.QueryPrograms(link.QueryOptions{Target: int(d.Ifindex), Attach: dir.attach})
		if errors.Is(err, ebpf.ErrNotSupported) || errors.Is(err, unix.EINVAL) {
			return nil // no tcx on this kernel (before 6.6 the query is EINVAL)
		}
		if err != nil {
			return fmt.Errorf("query tcx %s of %s: %w", dir.name, d.Name, err)
		}
		*dir.revision = res.Revision
		for _, p := range res.Programs {
			e := rawEntry{Entry: progs.Entry{Via: progs.ViaTCX}, progID: uint32(p.ID)}
			if id, ok := p.LinkID(); ok {
				e.LinkID = uint32(id)
			}
			*dir.entries = append(*dir.entries, e)
		}
	}
	return nil
}

// queryTC reads the cls_bpf filters on the device's clsact qdisc (ingress
// and egress) or legacy ingress qdisc, in the order the kernel runs them.
func (d *rawDevice) queryTC(h *netlink.Handle, l netlink.Link) error {
	qdiscs, err := h.QdiscList(l)
	if err != nil {
		return fmt.Errorf("list qdiscs of %s: %w", d.Name, err)
	}
	var ingress, egress bool
	for _, q := range qdiscs {
		switch q.Type() {
		case "clsact":
			ingress, egress = true, true
		case "ingress":
			ingress = true
		}
	}
	for _, dir := range []struct {
		on      bool
		parent  uint32
		entries *[]rawEntry
		name    string
	}{
		{ingress, netlink.HANDLE_MIN_INGRESS, &d.ingress, progs.Ingress},
		{egress, netlink.HANDLE_MIN_EGRESS, &d.egress, progs.Egress},
	} {
		if !dir.on {
			continue
		}
		filters, err := h.FilterList(l, dir.parent)
		if err != nil {
			return fmt.Errorf("list tc %s filters of %s: %w", dir.name, d.Name, err)
		}
		for _, f := range filters {
			bf, ok := f.(*netlink.BpfFilter)
			if !ok || bf.Id == 0 {
				continue
			}
			*dir.entries = append(*dir.entries, rawEntry{
				Entry:  progs.Entry{Via: progs.ViaTC, Prio: uint32(bf.Priority), Handle: bf.Handle},
				progID: uint32(bf.Id),
			})
		}
	}
	return nil
}
