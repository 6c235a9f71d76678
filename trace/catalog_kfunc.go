package trace

import "github.com/pktlife/pktlife/trace/journey"

// kfunc describes a kernel-function hop: the functions that implement it
// (kernels rename things; the first that exists wins) and where its skb is.
type kfunc struct {
	funcs []string
	arg   int  // 1-based argument holding the skb
	deref bool // the argument is a struct sk_buff ** (rx handlers)
	ret   bool // its return value means something (verdicts): fexit too
	id    uint32
}

// kfuncHops are the kernel-function hops, in the order a packet received,
// forwarded and sent meets them. Each has its own id, which its events
// carry in their slot field (kf_hop, or the kprobe's cookie) and which
// Kfunc names resolve: an id never changes and is never reused, so a
// recorded stream keeps its meaning whatever hops are added.
var kfuncHops = []HopDef{
	kf(11, "netif_receive_skb_core", "receive core, once per packet per device", true, kfunc{funcs: []string{"__netif_receive_skb_core"}, arg: 1, deref: true}),
	kf(12, "sch_handle_ingress", "tc ingress hook entry (legacy tc and tcx)", false, kfunc{funcs: []string{"sch_handle_ingress", "tcx_run"}, arg: 1}),
	kf(13, "tcf_classify", "legacy tc classification (clsact filters), with its verdict", true, kfunc{funcs: []string{"tcf_classify"}, arg: 1, ret: true}),
	kf(14, "cls_bpf_classify", "a cls_bpf filter runs its program, with its verdict", true, kfunc{funcs: []string{"cls_bpf_classify"}, arg: 1, ret: true}),
	kf(15, "bond_handle_frame", "bonding: a slave hands a frame to its bond", true, kfunc{funcs: []string{"bond_handle_frame"}, arg: 1, deref: true}),
	kf(16, "ipvlan_handle_frame", "ipvlan: the lower device hands a frame to a slave", true, kfunc{funcs: []string{"ipvlan_handle_frame"}, arg: 1, deref: true}),
	kf(17, "ip_rcv", "IPv4 receive", true, kfunc{funcs: []string{"ip_rcv"}, arg: 1}),
	kf(18, "ipv6_rcv", "IPv6 receive", true, kfunc{funcs: []string{"ipv6_rcv"}, arg: 1}),
	kf(19, "nf_hook_slow", "netfilter hooks run, with their verdict", false, kfunc{funcs: []string{"nf_hook_slow"}, arg: 1, ret: true}),
	kf(20, "ip_forward", "IPv4 forwarding", true, kfunc{funcs: []string{"ip_forward"}, arg: 1}),
	kf(21, "ip6_forward", "IPv6 forwarding", true, kfunc{funcs: []string{"ip6_forward"}, arg: 1}),
	kf(22, "ip_local_deliver", "IPv4 local delivery", true, kfunc{funcs: []string{"ip_local_deliver"}, arg: 1}),
	kf(23, "ip6_input", "IPv6 local delivery", false, kfunc{funcs: []string{"ip6_input"}, arg: 1}),
	kf(24, "ip_output", "IPv4 output", true, kfunc{funcs: []string{"ip_output"}, arg: 3}),
	kf(25, "ip6_output", "IPv6 output", false, kfunc{funcs: []string{"ip6_output"}, arg: 3}),
	kf(26, "ip_finish_output2", "IPv4 output to the neighbour layer", false, kfunc{funcs: []string{"ip_finish_output2"}, arg: 3}),
	kf(27, "neigh_resolve_output", "neighbour resolution before transmit", false, kfunc{funcs: []string{"neigh_resolve_output"}, arg: 2}),
	kf(28, "skb_do_redirect", "a BPF program's redirect is carried out", true, kfunc{funcs: []string{"skb_do_redirect"}, arg: 1}),
	kf(29, "dev_queue_xmit", "transmit entry (__dev_queue_xmit)", true, kfunc{funcs: []string{"__dev_queue_xmit"}, arg: 1}),
	kf(30, "bond_start_xmit", "bonding: the bond transmits through a slave", true, kfunc{funcs: []string{"bond_start_xmit"}, arg: 1}),
	kf(31, "ipvlan_queue_xmit", "ipvlan: a slave transmits", true, kfunc{funcs: []string{"ipvlan_queue_xmit"}, arg: 1}),
	kf(32, "veth_xmit", "veth transmit to its peer", true, kfunc{funcs: []string{"veth_xmit"}, arg: 1}),
	kf(33, "dev_forward_skb", "a device forwards into another namespace (veth, ipvlan)", false, kfunc{funcs: []string{"__dev_forward_skb"}, arg: 2}),
}

func kf(id uint32, name, what string, def bool, k kfunc) HopDef {
	k.id = id
	return HopDef{Name: name, Kind: KindKfunc, Hook: journey.HookKfunc, What: what, Default: def, kfunc: k}
}
