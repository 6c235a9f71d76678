package trace

import (
	"cmp"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/pktlife/pktlife/trace/internal/bpfobj"
	"github.com/pktlife/pktlife/trace/journey"
	"github.com/pktlife/pktlife/trace/progs/discover"
)

// names implements journey.Resolver against the running kernel. It is used
// from the correlator's goroutine only.
type names struct {
	host      string
	bootWall  time.Time
	ns        map[uint32]*nsHandle // by inode; opened by pktlife or discovered
	owned     map[uint32]bool      // handles names opened itself (to close)
	devs      map[journey.Device]journey.Device
	progs     map[uint32]journey.Prog
	maps      map[uint32]string
	hookProgs map[hookKey]hookProgs
	reasons   map[uint32]string
	kfuncs    map[uint32]string
	ownProgs  map[ebpf.ProgramID]bool // pktlife's observers, not listed
	lastScan  time.Time
	seen      map[uint32]string     // namespace paths by inode, from the last scan
	labels    map[netip.Addr]string // names of the namespaces holding these addresses
}

type hookKey struct {
	netns, ifindex uint32
	hook           journey.Hook
}

type hookProgs struct {
	at    time.Time
	progs []journey.Prog
}

var _ journey.Resolver = (*names)(nil)

// newNames returns names that know the namespaces pktlife opened, reading
// drop reasons from the kernel's BTF in cache.
func newNames(cache *btf.Cache, opened []*nsHandle, labels map[netip.Addr]string) *names {
	n := &names{
		ns:        map[uint32]*nsHandle{},
		owned:     map[uint32]bool{},
		devs:      map[journey.Device]journey.Device{},
		progs:     map[uint32]journey.Prog{},
		maps:      map[uint32]string{},
		hookProgs: map[hookKey]hookProgs{},
		kfuncs:    map[uint32]string{},
		ownProgs:  map[ebpf.ProgramID]bool{},
		seen:      map[uint32]string{},
		labels:    labels,
	}
	n.host, _ = os.Hostname()
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err == nil {
		n.bootWall = time.Now().Add(-time.Duration(ts.Nano()))
	}
	n.reasons = dropReasons(cache)
	for _, h := range catalog {
		if h.Kind == KindKfunc {
			n.kfuncs[h.kfunc.id] = h.Name
		}
	}
	for _, h := range opened {
		if _, ok := n.ns[h.inode]; !ok {
			n.ns[h.inode] = h
			n.label(h)
		}
	}
	return n
}

func (n *names) Close() {
	for ino, h := range n.ns {
		if n.owned[ino] {
			h.Close()
		}
	}
}

// dropReasons reads enum skb_drop_reason from the kernel's BTF, so names
// match the running kernel rather than a table compiled into pktlife.
func dropReasons(cache *btf.Cache) map[uint32]string {
	out := map[uint32]string{}
	spec, err := cache.Kernel()
	if err != nil {
		return out
	}
	var e *btf.Enum
	if err := spec.TypeByName("skb_drop_reason", &e); err != nil {
		return out
	}
	for _, v := range e.Values {
		out[uint32(v.Value)] = strings.TrimPrefix(v.Name, "SKB_DROP_REASON_")
	}
	return out
}

func (n *names) DropReason(r uint32) string {
	if s, ok := n.reasons[r]; ok {
		return s
	}
	if r == 0 && len(n.reasons) == 0 {
		return "" // a kernel without drop reasons (before 5.17): none given
	}
	if sub := r >> 16; sub != 0 {
		return fmt.Sprintf("SUBSYS_%d_%d", sub, r&0xffff)
	}
	return "reason-" + strconv.FormatUint(uint64(r), 10)
}

func (n *names) Kfunc(id uint32) string { return n.kfuncs[id] }

func (n *names) WallTime(mono uint64) time.Time {
	if n.bootWall.IsZero() {
		return time.Time{}
	}
	return n.bootWall.Add(time.Duration(mono))
}

func (n *names) Device(netns, ifindex uint32) journey.Device {
	key := journey.Device{Netns: netns, Ifindex: ifindex}
	if d, ok := n.devs[key]; ok {
		return d
	}
	h := n.netns(netns)
	d := key
	if h == nil {
		// Not cached: the namespace may show up in the next scan.
		if netns != 0 {
			d.NetnsName = fmt.Sprintf("netns:%d", netns)
		}
		return d
	}
	d.NetnsName = h.name
	if l, err := h.nl.LinkByIndex(int(ifindex)); err == nil && ifindex != 0 {
		d.Name = l.Attrs().Name
	}
	n.devs[key] = d
	return d
}

func (n *names) Prog(id uint32) journey.Prog {
	if p, ok := n.progs[id]; ok {
		return p
	}
	p := journey.Prog{ID: id, Name: bpfobj.Name(ebpf.ProgramID(id))}
	n.progs[id] = p
	return p
}

func (n *names) Map(id uint32) string {
	if s, ok := n.maps[id]; ok {
		return s
	}
	var name string
	if m, err := ebpf.NewMapFromID(ebpf.MapID(id)); err == nil {
		if info, err := m.Info(); err == nil {
			name = discover.FullMapName(id, info.Name)
		}
		m.Close()
	}
	n.maps[id] = name
	return name
}

// Progs lists the programs at a tc hook after pktlife's observer: tcx first,
// then legacy cls_bpf filters in priority order. The answer is cached for a
// second, since datapaths change while pktlife runs.
func (n *names) Progs(netns, ifindex uint32, h journey.Hook) []journey.Prog {
	key := hookKey{netns, ifindex, h}
	if hp, ok := n.hookProgs[key]; ok && time.Since(hp.at) < time.Second {
		return hp.progs
	}
	var out []journey.Prog
	if ns := n.netns(netns); ns != nil {
		for _, id := range hookProgIDs(ns, int(ifindex), h == journey.HookTCIngress) {
			if n.ownProgs[id] {
				continue
			}
			out = append(out, n.Prog(uint32(id)))
		}
	}
	n.hookProgs[key] = hookProgs{at: time.Now(), progs: out}
	return out
}

// hookProgIDs lists the program IDs at a device's tc hook.
func hookProgIDs(ns *nsHandle, ifindex int, ingress bool) []ebpf.ProgramID {
	var ids []ebpf.ProgramID
	attach := ebpf.AttachTCXEgress
	parent := uint32(netlink.HANDLE_MIN_EGRESS)
	if ingress {
		attach, parent = ebpf.AttachTCXIngress, netlink.HANDLE_MIN_INGRESS
	}
	_ = ns.do(func() error {
		res, err := link.QueryPrograms(link.QueryOptions{Target: ifindex, Attach: attach})
		if err != nil {
			return err
		}
		for _, p := range res.Programs {
			ids = append(ids, p.ID)
		}
		return nil
	})
	l, err := ns.nl.LinkByIndex(ifindex)
	if err != nil {
		return ids
	}
	fs, err := ns.nl.FilterList(l, parent)
	if err != nil {
		return ids
	}
	for _, f := range fs {
		if bf, ok := f.(*netlink.BpfFilter); ok && bf.Name != observerFilterName {
			ids = append(ids, ebpf.ProgramID(bf.Id))
		}
	}
	return ids
}

// snapshot returns what names has resolved so far as a static table, for
// recording event streams.
func (n *names) snapshot(usedReasons map[uint32]bool) *journey.Static {
	s := &journey.Static{
		Maps:        map[uint32]string{},
		DropReasons: map[uint32]string{},
		Kfuncs:      map[uint32]string{},
		BootWall:    n.bootWall,
	}
	for _, d := range n.devs {
		s.Devices = append(s.Devices, d)
	}
	for _, p := range n.progs {
		s.Programs = append(s.Programs, p)
	}
	for id, m := range n.maps {
		s.Maps[id] = m
	}
	for k, hp := range n.hookProgs {
		s.HookProgs = append(s.HookProgs, journey.HookProgs{Netns: k.netns, Ifindex: k.ifindex, Hook: k.hook, Progs: hp.progs})
	}
	for r := range usedReasons {
		s.DropReasons[r] = n.DropReason(r)
	}
	for id, f := range n.kfuncs {
		s.Kfuncs[id] = f
	}
	sortStatic(s)
	return s
}

func sortStatic(s *journey.Static) {
	slices.SortFunc(s.Devices, func(a, b journey.Device) int {
		return cmp.Or(cmp.Compare(a.Netns, b.Netns), cmp.Compare(a.Ifindex, b.Ifindex))
	})
	slices.SortFunc(s.Programs, func(a, b journey.Prog) int { return cmp.Compare(a.ID, b.ID) })
	slices.SortFunc(s.HookProgs, func(a, b journey.HookProgs) int {
		return cmp.Or(cmp.Compare(a.Netns, b.Netns), cmp.Compare(a.Ifindex, b.Ifindex), cmp.Compare(a.Hook, b.Hook))
	})
}
