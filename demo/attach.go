package demo

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// DefaultPriority is the clsact filter priority the demo datapaths use in
// legacy mode. Lower numbers run first: they are left free for observers
// such as pktlife's own, which must run before the datapath.
const DefaultPriority = 10

// hook says where a program is attached.
type hook struct {
	netnsPath string // namespace of the device
	ifindex   int    // device index in that namespace
	egress    bool
	legacy    bool   // clsact + cls_bpf instead of tcx
	priority  uint16 // legacy only
}

// attachment is one attached program; close detaches it.
type attachment interface {
	close() error
}

// attach attaches prog at h: with tcx at the end of the device's chain (no
// anchor), or as a direct-action cls_bpf filter on a clsact qdisc, created
// if the device has none.
func attach(h hook, prog *ebpf.Program, name string) (attachment, error) {
	ns, err := netns.GetFromPath(h.netnsPath)
	if err != nil {
		return nil, fmt.Errorf("open netns %s: %w", h.netnsPath, err)
	}
	defer ns.Close()
	if h.legacy {
		a, err := attachLegacy(ns, h, prog, name)
		if err != nil {
			return nil, err
		}
		return a, nil
	}
	typ := ebpf.AttachTCXIngress
	if h.egress {
		typ = ebpf.AttachTCXEgress
	}
	var l link.Link
	err = doInNetns(ns, func() error {
		var err error
		l, err = link.AttachTCX(link.TCXOptions{Interface: h.ifindex, Program: prog, Attach: typ})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("attach %s to ifindex %d with tcx: %w", name, h.ifindex, err)
	}
	return tcxAttachment{l}, nil
}

type tcxAttachment struct{ l link.Link }

func (a tcxAttachment) close() error {
	if err := a.l.Close(); err != nil {
		return fmt.Errorf("detach tcx link: %w", err)
	}
	return nil
}

// legacyAttachment is a cls_bpf filter on a clsact qdisc. The netlink handle
// stays open in the device's namespace until close.
type legacyAttachment struct {
	nl           *netlink.Handle
	filter       *netlink.BpfFilter
	link         netlink.Link
	createdQdisc bool
}

func clsact(ifindex int) *netlink.GenericQdisc {
	return &netlink.GenericQdisc{
		QdiscAttrs: netlink.QdiscAttrs{
			LinkIndex: ifindex,
			Handle:    netlink.MakeHandle(0xffff, 0),
			Parent:    netlink.HANDLE_CLSACT,
		},
		QdiscType: "clsact",
	}
}

func attachLegacy(ns netns.NsHandle, h hook, prog *ebpf.Program, name string) (_ *legacyAttachment, err error) {
	nl, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("open netlink: %w", err)
	}
	a := &legacyAttachment{nl: nl}
	defer func() {
		if err != nil {
			a.close()
		}
	}()
	a.link, err = nl.LinkByIndex(h.ifindex)
	if err != nil {
		return nil, fmt.Errorf("find ifindex %d: %w", h.ifindex, err)
	}
	qdiscs, err := nl.QdiscList(a.link)
	if err != nil {
		return nil, fmt.Errorf("list qdiscs of %s: %w", a.link.Attrs().Name, err)
	}
	have := false
	for _, q := range qdiscs {
		if q.Type() == "clsact" {
			have = true
		}
	}
	if !have {
		if err := nl.QdiscAdd(clsact(h.ifindex)); err != nil {
			return nil, fmt.Errorf("add clsact to %s: %w", a.link.Attrs().Name, err)
		}
		a.createdQdisc = true
	}
	parent := uint32(netlink.HANDLE_MIN_INGRESS)
	if h.egress {
		parent = netlink.HANDLE_MIN_EGRESS
	}
	prio := h.priority
	if prio == 0 {
		prio = DefaultPriority
	}
	f := &netlink.BpfFilter{
		FilterAttrs: netlink.FilterAttrs{
			LinkIndex: h.ifindex,
			Parent:    parent,
			Handle:    netlink.MakeHandle(0, 1),
			Priority:  prio,
			Protocol:  unix.ETH_P_ALL,
		},
		Fd:           prog.FD(),
		Name:         name,
		DirectAction: true,
	}
	if err := nl.FilterAdd(f); err != nil {
		return nil, fmt.Errorf("add cls_bpf filter %s to %s: %w", name, a.link.Attrs().Name, err)
	}
	a.filter = f
	return a, nil
}

// close deletes the filter, then the clsact qdisc if this attachment created
// it and no other filter (someone else's) is left on it.
func (a *legacyAttachment) close() error {
	if a.nl == nil {
		return nil
	}
	defer func() {
		a.nl.Close()
		a.nl = nil
	}()
	var errs []error
	if a.filter != nil {
		if err := a.nl.FilterDel(a.filter); err != nil && !gone(err) {
			errs = append(errs, fmt.Errorf("delete filter %s: %w", a.filter.Name, err))
		}
		a.filter = nil
	}
	if a.createdQdisc {
		if n, err := a.filterCount(); err != nil {
			if !gone(err) {
				errs = append(errs, err)
			}
		} else if n == 0 {
			if err := a.nl.QdiscDel(clsact(a.link.Attrs().Index)); err != nil && !gone(err) {
				errs = append(errs, fmt.Errorf("delete clsact: %w", err))
			}
		}
	}
	return errors.Join(errs...)
}

func (a *legacyAttachment) filterCount() (int, error) {
	n := 0
	for _, parent := range []uint32{netlink.HANDLE_MIN_INGRESS, netlink.HANDLE_MIN_EGRESS} {
		fs, err := a.nl.FilterList(a.link, parent)
		if err != nil {
			return 0, fmt.Errorf("list filters: %w", err)
		}
		n += len(fs)
	}
	return n, nil
}

// gone reports errors that mean the device or object no longer exists, as
// when the topology was closed first.
func gone(err error) bool {
	return errors.Is(err, unix.ENODEV) || errors.Is(err, unix.ENOENT) || errors.Is(err, unix.EINVAL)
}

// detachAll closes attachments in reverse order.
func detachAll(as []attachment) error {
	var errs []error
	for i := len(as) - 1; i >= 0; i-- {
		errs = append(errs, as[i].close())
	}
	return errors.Join(errs...)
}
