package trace

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/pktlife/pktlife/bpf"
)

// Mechanisms by which a tc observer is attached.
const (
	MechTCX    = "tcx"
	MechClsact = "clsact"
)

// observerFilterName marks pktlife's legacy cls_bpf filters so that
// `pktlife cleanup` can find them after a crash.
const observerFilterName = "pktlife_observer"

// tcBackend attaches tc hops: pktlife's observer first at the ingress or
// egress hook of each selected device.
type tcBackend struct {
	devs   []device
	legacy bool // clsact+cls_bpf even where tcx works
}

// probe attaches to loopback in a private network namespace, made for the
// probe and gone after it.
func (b *tcBackend) probe(objs *objects, h HopDef) (string, error) {
	prog, err := objs.load(tcProg(h), progLoad{})
	if err != nil {
		return "", err
	}
	defer prog.Close()
	ns, err := newPrivateNetns("probe")
	if err != nil {
		return "", err
	}
	defer ns.Close()
	lo, err := ns.nl.LinkByName("lo")
	if err != nil {
		return "", fmt.Errorf("find lo in probe netns: %w", err)
	}
	o, err := attachTC(ns, lo, prog, h.ingress, b.legacy)
	if err != nil {
		return "", err
	}
	return o.mech, o.Close()
}

func (b *tcBackend) attach(objs *objects, hs []HopDef) attached {
	var out attached
	for _, h := range hs {
		prog, err := objs.load(tcProg(h), progLoad{})
		if err != nil {
			out.report(h.Name, "all devices", "", err)
			continue
		}
		out.closers = append(out.closers, prog)
		if info, err := prog.Info(); err == nil {
			if id, ok := info.ID(); ok {
				out.tcProgs = append(out.tcProgs, id)
			}
		}
		for _, d := range b.devs {
			where := d.link.Attrs().Name + "@" + d.ns.name
			o, err := attachTC(d.ns, d.link, prog, h.ingress, b.legacy)
			if err != nil {
				out.report(h.Name, where, "", err)
				continue
			}
			out.closers = append(out.closers, o)
			out.report(h.Name, where, o.mech, nil)
		}
	}
	return out
}

// tcProg names the observer program of a tc hop.
func tcProg(h HopDef) string {
	if h.ingress {
		return bpf.PktlifeProgPlTcIngress
	}
	return bpf.PktlifeProgPlTcEgress
}

// tcObserver is pktlife's program at one tc hook of one device.
type tcObserver struct {
	ns      *nsHandle
	ifindex int
	ifname  string
	ingress bool
	mech    string

	tcx           link.Link
	filter        *netlink.BpfFilter
	createdClsact bool
}

// attachTC attaches prog at the device's ingress or egress, before every
// program already there: tcx with the "before all" anchor where the kernel
// has tcx, else a clsact cls_bpf filter at priority 1 in direct-action mode.
// The observer returns TC_ACT_UNSPEC/TCX_NEXT so the device's own programs
// still run.
func attachTC(ns *nsHandle, l netlink.Link, prog *ebpf.Program, ingress, legacy bool) (*tcObserver, error) {
	o := &tcObserver{ns: ns, ifindex: l.Attrs().Index, ifname: l.Attrs().Name, ingress: ingress}
	if !legacy {
		attach := ebpf.AttachTCXEgress
		if ingress {
			attach = ebpf.AttachTCXIngress
		}
		err := ns.do(func() error {
			lk, err := link.AttachTCX(link.TCXOptions{
				Interface: o.ifindex,
				Program:   prog,
				Attach:    attach,
				Anchor:    link.Head(),
			})
			o.tcx = lk
			return err
		})
		if err == nil {
			o.mech = MechTCX
			return o, nil
		}
		if !errors.Is(err, ebpf.ErrNotSupported) && !errors.Is(err, unix.EINVAL) {
			return nil, fmt.Errorf("attach tcx to %s: %w", o.ifname, err)
		}
	}
	if err := o.attachClsact(l, prog); err != nil {
		return nil, err
	}
	o.mech = MechClsact
	return o, nil
}

func (o *tcObserver) parent() uint32 {
	if o.ingress {
		return netlink.HANDLE_MIN_INGRESS
	}
	return netlink.HANDLE_MIN_EGRESS
}

func (o *tcObserver) attachClsact(l netlink.Link, prog *ebpf.Program) error {
	nl := o.ns.nl
	has, err := hasClsact(nl, l)
	if err != nil {
		return err
	}
	if !has {
		q := &netlink.GenericQdisc{
			QdiscAttrs: netlink.QdiscAttrs{
				LinkIndex: o.ifindex,
				Handle:    netlink.MakeHandle(0xffff, 0),
				Parent:    netlink.HANDLE_CLSACT,
			},
			QdiscType: "clsact",
		}
		if err := nl.QdiscAdd(q); err != nil {
			return fmt.Errorf("add clsact qdisc to %s: %w", o.ifname, err)
		}
		o.createdClsact = true
	}
	existing, err := nl.FilterList(l, o.parent())
	if err != nil {
		o.removeClsact()
		return fmt.Errorf("list tc filters on %s: %w", o.ifname, err)
	}
	for _, f := range existing {
		if f.Attrs().Priority <= 1 {
			o.removeClsact()
			return fmt.Errorf("attach tc filter to %s: priority 1 is taken, pktlife cannot run first", o.ifname)
		}
	}
	f := &netlink.BpfFilter{
		FilterAttrs: netlink.FilterAttrs{
			LinkIndex: o.ifindex,
			Parent:    o.parent(),
			Handle:    netlink.MakeHandle(0, 1),
			Priority:  1,
			Protocol:  unix.ETH_P_ALL,
		},
		Fd:           prog.FD(),
		Name:         observerFilterName,
		DirectAction: true,
	}
	if err := nl.FilterAdd(f); err != nil {
		o.removeClsact()
		return fmt.Errorf("add tc filter to %s: %w", o.ifname, err)
	}
	o.filter = f
	return nil
}

func hasClsact(nl *netlink.Handle, l netlink.Link) (bool, error) {
	qs, err := nl.QdiscList(l)
	if err != nil {
		return false, fmt.Errorf("list qdiscs on %s: %w", l.Attrs().Name, err)
	}
	for _, q := range qs {
		if q.Type() == "clsact" {
			return true, nil
		}
	}
	return false, nil
}

// removeClsact deletes the clsact qdisc if pktlife created it and nothing
// else has been attached to it since.
func (o *tcObserver) removeClsact() error {
	if !o.createdClsact {
		return nil
	}
	l, err := o.ns.nl.LinkByIndex(o.ifindex)
	if err != nil {
		return nil // the device is gone, and its qdisc with it
	}
	for _, p := range []uint32{netlink.HANDLE_MIN_INGRESS, netlink.HANDLE_MIN_EGRESS} {
		fs, err := o.ns.nl.FilterList(l, p)
		if err != nil {
			return fmt.Errorf("list tc filters on %s: %w", o.ifname, err)
		}
		if len(fs) > 0 {
			return nil // someone else uses it now (or our other direction)
		}
	}
	q := &netlink.GenericQdisc{
		QdiscAttrs: netlink.QdiscAttrs{LinkIndex: o.ifindex, Handle: netlink.MakeHandle(0xffff, 0), Parent: netlink.HANDLE_CLSACT},
		QdiscType:  "clsact",
	}
	if err := o.ns.nl.QdiscDel(q); err != nil && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("delete clsact qdisc on %s: %w", o.ifname, err)
	}
	o.createdClsact = false
	return nil
}

// Close detaches the observer. It is safe to call twice.
func (o *tcObserver) Close() error {
	var errs []error
	if o.tcx != nil {
		if err := o.tcx.Close(); err != nil {
			errs = append(errs, fmt.Errorf("detach tcx from %s: %w", o.ifname, err))
		}
		o.tcx = nil
	}
	if o.filter != nil {
		if err := o.ns.nl.FilterDel(o.filter); err != nil && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.ENODEV) {
			errs = append(errs, fmt.Errorf("delete tc filter on %s: %w", o.ifname, err))
		}
		o.filter = nil
	}
	if err := o.removeClsact(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
