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

// selectHops resolves hop names; empty selects the default set.
func selectHops(sel []string) ([]HopDef, error) {
	if len(sel) == 0 || (len(sel) == 1 && sel[0] == "default") {
		return slices.DeleteFunc(Hops(), func(h HopDef) bool { return !h.Default }), nil
	}
	if len(sel) == 1 && sel[0] == "all" {
		return Hops(), nil
	}
	var out []HopDef
	for _, s := range sel {
		h, ok := LookupHop(s)
		if !ok {
			return nil, fmt.Errorf("select hops: unknown hop %q: %w", s, ErrBadOption)
		}
		out = append(out, h)
	}
	return out, nil
}
