package ciliumbed

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"sort"
	"strconv"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"

	"github.com/pktlife/pktlife/demo"
)

// Options says where and as which endpoint the bed's bpf_lxc runs.
type Options struct {
	NetnsPath  string     // namespace of the endpoint's host-side device
	Ifindex    int        // that device (Cilium's lxc device)
	Legacy     bool       // attach with clsact + cls_bpf (Cilium 1.14) instead of tcx
	EndpointIP netip.Addr // the pod's IPv4 address
	EndpointID uint16     // the endpoint's ID (LXC_ID)
	Identity   uint32     // the endpoint's security identity (SECLABEL); 0 keeps the object's
	DeviceMAC  [6]byte    // the device's MAC: Cilium answers the pod's ARP with it
	// PinDir, a directory in a bpffs, gets the prog_arrays pinned under
	// their full names, as the agent pins its maps (it pins in
	// /sys/fs/bpf/tc/globals). Empty: nothing is pinned.
	PinDir string
	// Entries are the programs attached to the device; none means
	// cil_from_container at its ingress (bpf_lxc on an lxc device).
	Entries []Entry
}

// Entry is one entry program and the side of the device it runs on.
type Entry struct {
	Prog   string
	Egress bool
}

// Netdev is bpf_host's pair on an external device, as the agent attaches
// it on each of the node's devices: from-netdev at ingress, to-netdev at
// egress.
var Netdev = []Entry{{Prog: "cil_from_netdev"}, {Prog: "cil_to_netdev", Egress: true}}

// TailCall is one slot the bed filled, as cilium-agent fills it.
type TailCall struct {
	Map  string
	Slot uint32
	Prog string
}

// Bed is a loaded, attached bpf_lxc.
type Bed struct {
	Spec      *ebpf.CollectionSpec
	Coll      *ebpf.Collection
	TailCalls []TailCall // sorted by map, slot
	attached  []io.Closer
}

// Load loads the object as cilium-agent loads an endpoint's program (no
// pinning: the bed's maps live as long as it does; every section a
// sched_cls program; the endpoint's address and ID set in its
// configuration variables; the tail-call maps filled from the object's
// own declarations) and attaches cil_from_container at the ingress of the
// endpoint's device.
func Load(obj string, opts Options) (_ *Bed, err error) {
	spec, err := ebpf.LoadCollectionSpec(obj)
	if err != nil {
		return nil, fmt.Errorf("load spec %s: %w", obj, err)
	}
	b := &Bed{Spec: spec}
	defer func() {
		if err != nil {
			b.Close()
		}
	}()
	for _, m := range spec.Maps {
		m.Pinning = ebpf.PinNone
		if opts.PinDir != "" && m.Type == ebpf.ProgramArray {
			m.Pinning = ebpf.PinByName
		}
	}
	for _, p := range spec.Programs {
		if p.Type == ebpf.UnspecifiedProgram {
			p.Type = ebpf.SchedCLS
		}
	}
	if err := configure(spec, opts); err != nil {
		return nil, err
	}
	if err := inlineGlobalData(spec); err != nil {
		return nil, err
	}
	calls, err := tailCalls(spec, opts.EndpointID)
	if err != nil {
		return nil, err
	}
	b.Coll, err = ebpf.NewCollectionWithOptions(spec, ebpf.CollectionOptions{Maps: ebpf.MapOptions{PinPath: opts.PinDir}})
	if err != nil {
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			return nil, fmt.Errorf("load collection: %w:\n%s", err, lastLines([]byte(fmt.Sprintf("%+v", ve)), 40))
		}
		return nil, fmt.Errorf("load collection: %w", err)
	}
	for _, c := range calls {
		if err := b.Coll.Maps[c.Map].Put(c.Slot, b.Coll.Programs[c.Prog]); err != nil {
			return nil, fmt.Errorf("fill %s/%d with %s: %w", c.Map, c.Slot, c.Prog, err)
		}
	}
	b.TailCalls = calls
	entries := opts.Entries
	if len(entries) == 0 {
		entries = []Entry{{Prog: "cil_from_container"}}
	}
	for _, e := range entries {
		prog := b.Coll.Programs[e.Prog]
		if prog == nil {
			return nil, fmt.Errorf("load collection: no %s", e.Prog)
		}
		h := demo.TCHook{NetnsPath: opts.NetnsPath, Ifindex: opts.Ifindex, Egress: e.Egress, Legacy: opts.Legacy}
		a, err := demo.AttachTC(h, prog, e.Prog)
		if err != nil {
			return nil, err
		}
		b.attached = append(b.attached, a)
	}
	return b, nil
}

// configure sets the endpoint's address and ID: Cilium 1.14 keeps them in
// .data (LXC_IPV4, LXC_ID), current releases in .rodata.config.
func configure(spec *ebpf.CollectionSpec, opts Options) error {
	ip := opts.EndpointIP.As4()
	mac := opts.DeviceMAC
	sets := []struct {
		names []string
		value any
	}{
		{[]string{"LXC_IPV4", "__config_endpoint_ipv4"}, ip},
		{[]string{"LXC_ID", "__config_endpoint_id"}, opts.EndpointID},
		{[]string{"?__config_interface_ifindex"}, uint32(opts.Ifindex)},
		// 1.14: union macaddr's two words (p1, p2) as .data variables.
		{[]string{"?NODE_MAC_1"}, binary.LittleEndian.Uint32(mac[0:4])},
		{[]string{"?NODE_MAC_2"}, uint32(binary.LittleEndian.Uint16(mac[4:6]))},
		{[]string{"?__config_interface_mac"}, [8]byte(append(mac[:], 0, 0))},
	}
	if id := opts.Identity; id != 0 {
		sets = append(sets, []struct {
			names []string
			value any
		}{
			{[]string{"?SECLABEL", "?__config_security_label"}, id},
			{[]string{"?SECLABEL_NB"}, id>>24 | id>>8&0xff00 | id<<8&0xff0000 | id<<24},
		}...)
	}
	for _, s := range sets {
		done := false
		for _, n := range s.names {
			v := spec.Variables[strings.TrimPrefix(n, "?")]
			if v == nil {
				continue
			}
			if err := v.Set(s.value); err != nil {
				return fmt.Errorf("set %s: %w", n, err)
			}
			done = true
		}
		// bpf_host has no endpoint of its own in current releases.
		if !done && !strings.HasPrefix(s.names[0], "?") && len(opts.Entries) == 0 {
			return fmt.Errorf("configure endpoint: none of %v in the object", s.names)
		}
	}
	return nil
}

// tailCalls reads where each program belongs. Cilium 1.14 names a tail
// call's section "<map id>/<slot>", the map id being the id field of the
// map's legacy struct bpf_elf_map; current releases tag the function with
// btf_decl_tag("tail:<map>/<slot>"). The policy programs go to the
// endpoint's slot of the policy prog_arrays, as the agent puts them.
func tailCalls(spec *ebpf.CollectionSpec, epID uint16) ([]TailCall, error) {
	byID := map[uint32]string{}
	for name, m := range spec.Maps {
		if m.Type != ebpf.ProgramArray || m.Extra == nil || m.Extra.Len() < 4 {
			continue
		}
		var id [4]byte
		if _, err := m.Extra.ReadAt(id[:], 0); err != nil {
			return nil, fmt.Errorf("read bpf_elf_map of %s: %w", name, err)
		}
		byID[binary.LittleEndian.Uint32(id[:])] = name
	}
	// The rest of bpf_elf_map (id, pinning, inner map) is iproute2's, not
	// the kernel's: drained, as the agent does, once the ids are read.
	for _, m := range spec.Maps {
		m.Extra = nil
	}
	var out []TailCall
	for name, p := range spec.Programs {
		switch {
		case strings.Contains(p.SectionName, "/") && !strings.HasPrefix(p.SectionName, "tc"):
			id, slot, _ := strings.Cut(p.SectionName, "/")
			mid, err1 := strconv.ParseUint(id, 0, 32)
			s, err2 := strconv.ParseUint(slot, 0, 32)
			m, ok := byID[uint32(mid)]
			if err1 != nil || err2 != nil || !ok {
				return nil, fmt.Errorf("program %s: section %q names no tail-call slot", name, p.SectionName)
			}
			if s == 0xffff { // the template's endpoint ID
				s = uint64(epID)
			}
			out = append(out, TailCall{Map: m, Slot: uint32(s), Prog: name})
		case name == "cil_lxc_policy":
			out = append(out, TailCall{Map: "cilium_call_policy", Slot: uint32(epID), Prog: name})
		case name == "cil_lxc_policy_egress":
			out = append(out, TailCall{Map: "cilium_egresscall_policy", Slot: uint32(epID), Prog: name})
		default:
			fn := btf.FuncMetadata(&p.Instructions[0])
			if fn == nil {
				continue
			}
			for _, tag := range fn.Tags {
				rest, ok := strings.CutPrefix(tag, "tail:")
				if !ok {
					continue
				}
				m, slot, _ := strings.Cut(rest, "/")
				s, err := strconv.ParseUint(slot, 0, 32)
				if err != nil || spec.Maps[m] == nil {
					return nil, fmt.Errorf("program %s: tag %q names no tail-call slot", name, tag)
				}
				out = append(out, TailCall{Map: m, Slot: uint32(s), Prog: name})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Map != out[j].Map {
			return out[i].Map < out[j].Map
		}
		return out[i].Slot < out[j].Slot
	})
	return out, nil
}

// Put writes one entry into one of the bed's maps, key and value laid out
// by the map's BTF (see Fields). A key or value of a plain integer type is
// given as the field "".
func (b *Bed) Put(mapName string, key, value Fields) error {
	ms := b.Spec.Maps[mapName]
	m := b.Coll.Maps[mapName]
	if ms == nil || m == nil {
		return fmt.Errorf("put into %s: no such map", mapName)
	}
	k, err := encode(ms.Key, key)
	if err != nil {
		return fmt.Errorf("put into %s: %w", mapName, err)
	}
	v, err := encode(ms.Value, value)
	if err != nil {
		return fmt.Errorf("put into %s: %w", mapName, err)
	}
	if err := m.Put(k, v); err != nil {
		return fmt.Errorf("put into %s: %w", mapName, err)
	}
	return nil
}

// Map returns the bed's map whose name starts with one of prefixes (the
// names differ between releases: test_cilium_lb4_services in 1.14's
// compile-test configuration, cilium_lb4_services_v2 in 1.18).
func (b *Bed) Map(prefixes ...string) string {
	var names []string
	for n := range b.Coll.Maps {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, p := range prefixes {
		for _, n := range names {
			if n == p || strings.HasPrefix(n, p) {
				return n
			}
		}
	}
	return ""
}

// Close detaches the program and closes the collection. Safe twice.
func (b *Bed) Close() error {
	var errs []error
	for i := len(b.attached) - 1; i >= 0; i-- {
		errs = append(errs, b.attached[i].Close())
	}
	b.attached = nil
	if b.Coll != nil {
		for _, m := range b.Coll.Maps {
			if m.IsPinned() {
				errs = append(errs, m.Unpin())
			}
		}
		b.Coll.Close()
		b.Coll = nil
	}
	return errors.Join(errs...)
}
