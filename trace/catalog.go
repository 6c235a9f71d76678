package trace

import (
	"fmt"
	"slices"

	"github.com/pktlife/pktlife/bpf"
	"github.com/pktlife/pktlife/trace/journey"
)

// Hop kinds: each has one backend (backend_*.go).
const (
	KindTC         = "tc"
	KindTracepoint = "tracepoint"
	KindKfunc      = "kfunc"
	KindSocket     = "socket"
)

// HopDef is one place in the kernel pktlife knows how to observe.
type HopDef struct {
	Name string       // as the user names it (Options.Hops) and `pktlife hops` lists it
	Kind string       // KindTC, KindTracepoint, KindSocket or KindKfunc
	Hook journey.Hook // the hook its events carry: enum pl_hook (catalog_test.go)
	What string       // one line for people
	// Default says whether the default hop set includes it.
	Default bool
	// tracepoints: the BTF-enabled and raw programs for the same body
	tpProg, rawProg string
	tracepoint      string
	// tc and socket hops: ingress or egress
	ingress bool
	// kernel functions
	kfunc kfunc
}

// catalog lists every hop, in the order a received-then-forwarded packet
// meets them: first the hops with a hook of their own, then the
// kernel-function hops. It is never changed; Hops returns a copy.
var catalog = slices.Concat([]HopDef{
	{Name: "sock_send", Kind: KindSocket, Hook: journey.HookSockSend, Default: true,
		What: "sent by a local socket (cgroup_skb egress on the cgroup v2 root)"},
	{Name: "netif_rx", Kind: KindTracepoint, Hook: journey.HookNetifRx, Default: true,
		What:   "a device hands a received packet to the stack (veth, loopback, tunnels)",
		tpProg: bpf.PktlifeProgPlTpNetifRx, rawProg: bpf.PktlifeProgPlRawNetifRx, tracepoint: "netif_rx"},
	{Name: "netif_receive_skb", Kind: KindTracepoint, Hook: journey.HookNetifReceiveSkb, Default: true,
		What:   "receive core: before tc ingress and the protocol handlers",
		tpProg: bpf.PktlifeProgPlTpNetifReceiveSkb, rawProg: bpf.PktlifeProgPlRawNetifReceiveSkb, tracepoint: "netif_receive_skb"},
	{Name: "tc-ingress", Kind: KindTC, Hook: journey.HookTCIngress, ingress: true, Default: true,
		What: "tc ingress hook of each selected device, before the device's own programs"},
	{Name: "sock_deliver", Kind: KindSocket, Hook: journey.HookSockDeliver, ingress: true, Default: true,
		What: "handed to a local socket (cgroup_skb ingress on the cgroup v2 root)"},
	{Name: "tc-egress", Kind: KindTC, Hook: journey.HookTCEgress, Default: true,
		What: "tc egress hook of each selected device, before the device's own programs"},
	{Name: "net_dev_queue", Kind: KindTracepoint, Hook: journey.HookNetDevQueue, Default: true,
		What:   "packet queued for transmission on a device (__dev_queue_xmit)",
		tpProg: bpf.PktlifeProgPlTpNetDevQueue, rawProg: bpf.PktlifeProgPlRawNetDevQueue, tracepoint: "net_dev_queue"},
	{Name: "net_dev_start_xmit", Kind: KindTracepoint, Hook: journey.HookNetDevStartXmit, Default: true,
		What:   "driver transmit begins",
		tpProg: bpf.PktlifeProgPlTpNetDevStartXmit, rawProg: bpf.PktlifeProgPlRawNetDevStartXmit, tracepoint: "net_dev_start_xmit"},
	{Name: "net_dev_xmit", Kind: KindTracepoint, Hook: journey.HookNetDevXmit, Default: true,
		What:   "driver transmit returned (with its return code)",
		tpProg: bpf.PktlifeProgPlTpNetDevXmit, rawProg: bpf.PktlifeProgPlRawNetDevXmit, tracepoint: "net_dev_xmit"},
	{Name: "kfree_skb", Kind: KindTracepoint, Hook: journey.HookKfreeSkb, Default: true,
		What:   "packet dropped, with the kernel's drop reason",
		tpProg: bpf.PktlifeProgPlTpKfreeSkb, rawProg: bpf.PktlifeProgPlRawKfreeSkb, tracepoint: "kfree_skb"},
	{Name: "consume_skb", Kind: KindTracepoint, Hook: journey.HookConsumeSkb, Default: true,
		What:   "packet freed after normal use",
		tpProg: bpf.PktlifeProgPlTpConsumeSkb, rawProg: bpf.PktlifeProgPlRawConsumeSkb, tracepoint: "consume_skb"},
}, kfuncHops)

// Hops returns the catalog of hops, in the order a received-then-forwarded
// packet meets them.
func Hops() []HopDef { return slices.Clone(catalog) }

// LookupHop finds a hop by name.
func LookupHop(name string) (HopDef, bool) {
	i := slices.IndexFunc(catalog, func(h HopDef) bool { return h.Name == name })
	if i < 0 {
		return HopDef{}, false
	}
	return catalog[i], true
}

// Preset is a named hop set: Options.Hops may name it in place of hops.
type Preset struct {
	Name string
	What string   // one line for people
	Hops []string // in catalog order
}

// leanHops are the lean preset's: tc, sockets and drops, the hops that
// fire a few times per packet rather than at every step of the stack.
var leanHops = []string{"tc-ingress", "tc-egress", "sock_send", "sock_deliver", "kfree_skb"}

// Presets returns the named hop sets: default, lean and all.
func Presets() []Preset {
	names := func(keep func(HopDef) bool) []string {
		var out []string
		for _, h := range catalog {
			if keep(h) {
				out = append(out, h.Name)
			}
		}
		return out
	}
	return []Preset{
		{Name: "default", What: "what an empty --hops attaches: the hooks and the main kernel functions (where the kernel allows)",
			Hops: names(func(h HopDef) bool { return h.Default })},
		{Name: "lean", What: "tc, sockets and drops: fewest activations per packet, for busy nodes",
			Hops: names(func(h HopDef) bool { return slices.Contains(leanHops, h.Name) })},
		{Name: "all", What: "every hop in the catalog",
			Hops: names(func(HopDef) bool { return true })},
	}
}

// selectHops resolves hop and preset names, each hop once, in the order
// named; empty selects the default set.
func selectHops(sel []string) ([]HopDef, error) {
	if len(sel) == 0 {
		sel = []string{"default"}
	}
	presets := Presets()
	var out []HopDef
	seen := map[string]bool{}
	add := func(name string) error {
		h, ok := LookupHop(name)
		if !ok {
			return fmt.Errorf("select hops: unknown hop %q: %w", name, ErrBadOption)
		}
		if !seen[name] {
			seen[name] = true
			out = append(out, h)
		}
		return nil
	}
	for _, s := range sel {
		names := []string{s}
		if i := slices.IndexFunc(presets, func(p Preset) bool { return p.Name == s }); i >= 0 {
			names = presets[i].Hops
		}
		for _, n := range names {
			if err := add(n); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}
