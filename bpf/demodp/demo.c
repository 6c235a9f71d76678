//go:build ignore

// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* A small Cilium-like tc datapath for pktlife's demo and tests.
 *
 * Pod A -> service: demo_from_pod (entry, ingress of pod A's node-side veth)
 *   tail-calls demo_calls[DEMO_SLOT_NAT] = demo_nat, which DNATs the service
 *   VIP:port to pod B:backend_port and remembers the flow in demo_ct, then
 *   tail-calls demo_calls[DEMO_SLOT_POLICY] = demo_policy, which drops the
 *   deny port and redirects pod B's traffic to pod B's node-side veth with
 *   bpf_redirect_neigh.
 * Pod B -> pod A: demo_from_backend (entry, ingress of pod B's node-side
 *   veth) tail-calls demo_calls[DEMO_SLOT_REV_NAT] = demo_rev_nat, which
 *   rewrites replies back to the service VIP:port and redirects them to pod
 *   A's node-side veth.
 * Non-IPv4 and ICMP go back to the stack (TC_ACT_OK). A tail call that finds
 * its slot empty falls through and the packet goes back to the stack too. */

#include "common.h"
#include "demodp.h"

char __license[] SEC("license") = "Dual BSD/GPL";

/* Unused variables that put the shared enums into BTF for bpf2go -type. */
volatile const enum slot __demo_slot_type;
volatile const enum stat __demo_stat_type;

/* Set by user space before load. */
volatile const struct svc_config cfg = {};

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, DEMO_SLOT_MAX);
	__type(key, __u32);
	__type(value, __u32);
} demo_calls SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, DEMO_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} demo_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct ct_key);
	__type(value, struct ct_entry);
} demo_ct SEC(".maps");

static __always_inline void stat_inc(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&demo_stats, &idx);
	if (v)
		*v += 1;
}

static __always_inline __u32 l4_csum_off(const struct pkt *p)
{
	if (p->proto == IPPROTO_TCP)
		return p->l4off + offsetof(struct tcphdr, check);
	return p->l4off + offsetof(struct udphdr, check);
}

/* rewrite_addr replaces the IPv4 source (src != 0) or destination address
 * and the matching port, fixing the IP and transport checksums. */
static __always_inline int rewrite_addr(struct __sk_buff *skb, const struct pkt *p,
					int src, __be32 to_addr, __be16 to_port)
{
	__be32 from_addr = src ? p->saddr : p->daddr;
	__be16 from_port = src ? p->sport : p->dport;
	__u32 addr_off = ETH_HLEN + (src ? offsetof(struct iphdr, saddr) : offsetof(struct iphdr, daddr));
	__u32 port_off = p->l4off + (src ? 0 : 2);
	__u32 csum_off = l4_csum_off(p);
	/* A UDP checksum of zero means none: leave it so. */
	__u64 mangled = p->proto == IPPROTO_UDP ? BPF_F_MARK_MANGLED_0 : 0;

	if (bpf_l4_csum_replace(skb, csum_off, from_addr, to_addr,
				mangled | BPF_F_PSEUDO_HDR | sizeof(to_addr)))
		return -1;
	if (bpf_l4_csum_replace(skb, csum_off, from_port, to_port, mangled | sizeof(to_port)))
		return -1;
	if (bpf_l3_csum_replace(skb, ETH_HLEN + offsetof(struct iphdr, check), from_addr, to_addr,
				sizeof(to_addr)))
		return -1;
	if (bpf_skb_store_bytes(skb, addr_off, &to_addr, sizeof(to_addr), 0))
		return -1;
	if (bpf_skb_store_bytes(skb, port_off, &to_port, sizeof(to_port), 0))
		return -1;
	return 0;
}

/* redirect_to sends the packet out of ifindex to the neighbour nh (the
 * destination pod itself): no FIB lookup, no ip_forward, just the neighbour
 * table filling in the L2 header. */
static __always_inline long redirect_to(__u32 ifindex, __be32 nh)
{
	struct bpf_redir_neigh params = {
		.nh_family = 2, /* AF_INET */
		.ipv4_nh = nh,
	};

	return bpf_redirect_neigh(ifindex, &params, sizeof(params), 0);
}

SEC("tc")
int demo_from_pod(struct __sk_buff *skb)
{
	if (skb->protocol != bpf_htons(ETH_P_IP))
		return TC_ACT_OK;
	stat_inc(DEMO_STAT_FROM_POD);
	bpf_tail_call(skb, &demo_calls, DEMO_SLOT_NAT);
	stat_inc(DEMO_STAT_TAIL_MISS);
	stat_inc(DEMO_STAT_PASS);
	return TC_ACT_OK;
}

SEC("tc")
int demo_nat(struct __sk_buff *skb)
{
	struct pkt p;

	if (parse_ipv4(skb, &p) == 0 && p.has_ports && p.daddr == cfg.svc_addr &&
	    p.dport == bpf_htons(cfg.svc_port)) {
		struct ct_key key = {
			.client_addr = p.saddr,
			.client_port = p.sport,
			.proto = p.proto,
		};
		struct ct_entry val = {
			.svc_addr = p.daddr,
			.svc_port = p.dport,
			.backend_addr = cfg.backend_addr,
			.backend_port = bpf_htons(cfg.backend_port),
		};
		struct ct_entry *old;

		if (rewrite_addr(skb, &p, 0, val.backend_addr, val.backend_port)) {
			stat_inc(DEMO_STAT_ERROR);
			return TC_ACT_SHOT;
		}
		old = bpf_map_lookup_elem(&demo_ct, &key);
		if (old && old->backend_addr == val.backend_addr && old->svc_port == val.svc_port)
			__sync_fetch_and_add(&old->packets, 1);
		else {
			val.packets = 1;
			bpf_map_update_elem(&demo_ct, &key, &val, BPF_ANY);
		}
		stat_inc(DEMO_STAT_DNAT);
	}
	bpf_tail_call(skb, &demo_calls, DEMO_SLOT_POLICY);
	stat_inc(DEMO_STAT_TAIL_MISS);
	stat_inc(DEMO_STAT_PASS);
	return TC_ACT_OK;
}

SEC("tc")
int demo_policy(struct __sk_buff *skb)
{
	struct pkt p;

	if (parse_ipv4(skb, &p) || !p.has_ports) {
		/* Not IPv4, ICMP, or a later fragment: the stack routes it. */
		stat_inc(DEMO_STAT_PASS);
		return TC_ACT_OK;
	}
	if (p.dport == bpf_htons(cfg.deny_port)) {
		stat_inc(DEMO_STAT_POLICY_DROP);
		return TC_ACT_SHOT;
	}
	if (p.daddr == cfg.backend_addr) {
		stat_inc(DEMO_STAT_REDIRECT_B);
		return redirect_to(cfg.backend_ifindex, p.daddr);
	}
	stat_inc(DEMO_STAT_PASS);
	return TC_ACT_OK;
}

SEC("tc")
int demo_from_backend(struct __sk_buff *skb)
{
	if (skb->protocol != bpf_htons(ETH_P_IP))
		return TC_ACT_OK;
	stat_inc(DEMO_STAT_FROM_BACKEND);
	bpf_tail_call(skb, &demo_calls, DEMO_SLOT_REV_NAT);
	stat_inc(DEMO_STAT_TAIL_MISS);
	stat_inc(DEMO_STAT_PASS);
	return TC_ACT_OK;
}

SEC("tc")
int demo_rev_nat(struct __sk_buff *skb)
{
	struct pkt p;
	struct ct_key key = {};
	struct ct_entry *ct;

	if (parse_ipv4(skb, &p) || !p.has_ports) {
		stat_inc(DEMO_STAT_PASS);
		return TC_ACT_OK;
	}
	key.client_addr = p.daddr;
	key.client_port = p.dport;
	key.proto = p.proto;
	ct = bpf_map_lookup_elem(&demo_ct, &key);
	if (ct && ct->backend_addr == p.saddr && ct->backend_port == p.sport) {
		if (rewrite_addr(skb, &p, 1, ct->svc_addr, ct->svc_port)) {
			stat_inc(DEMO_STAT_ERROR);
			return TC_ACT_SHOT;
		}
		stat_inc(DEMO_STAT_REV_NAT);
	}
	if ((p.daddr & cfg.client_mask) == cfg.client_net) {
		stat_inc(DEMO_STAT_REDIRECT_A);
		return redirect_to(cfg.client_ifindex, p.daddr);
	}
	stat_inc(DEMO_STAT_PASS);
	return TC_ACT_OK;
}
