//go:build ignore

// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* A tail-call test datapath: packets take different paths through two
 * prog_arrays, chosen by UDP destination port (enum port), and every
 * program on the path ORs its bit into skb->mark (enum mark_bit). The mark
 * a packet leaves with is also stored in chain_results under its port.
 *
 *   7001: chain_entry_classifier -> jmp_a[0] chain_stage_one_inspect
 *                                -> jmp_b[0] chain_stage_two_finalize
 *   7002: chain_entry_classifier -> jmp_a[2] chain_stage_two_finalize
 *   7003: chain_entry_classifier -> jmp_a[3] (empty: falls through)
 *   7004: chain_entry_classifier -> jmp_a[0] chain_stage_one_inspect
 *                                -> jmp_b[1] (empty: falls through)
 *   7005: chain_entry_classifier -> jmp_a[1] chain_alt_rewriter
 *                                -> jmp_b[0] chain_stage_two_finalize
 *
 * chain_stage_two_finalize is reachable from two maps (jmp_a[2], jmp_b[0]).
 * Packets on those ports leave with TC_ACT_OK; all others are left alone
 * with TC_ACT_UNSPEC, so programs attached after the chain still see them. */

#include "common.h"
#include "demodp.h"

char __license[] SEC("license") = "Dual BSD/GPL";

/* Unused variables that put the shared enums into BTF for bpf2go -type. */
volatile const enum port __chain_port_type;
volatile const enum jump_slot __chain_slot_type;
volatile const enum mark_bit __chain_mark_type;
volatile const enum counter __chain_stat_type;

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, CHAIN_SLOTS);
	__type(key, __u32);
	__type(value, __u32);
} chain_jmp_a SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, CHAIN_SLOTS);
	__type(key, __u32);
	__type(value, __u32);
} chain_jmp_b SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, CHAIN_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} chain_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u16);
	__type(value, struct result);
} chain_results SEC(".maps");

static __always_inline void stat_inc(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&chain_stats, &idx);
	if (v)
		*v += 1;
}

/* chain_port returns the packet's UDP destination port in host order when
 * it is one of enum port, else 0. */
static __always_inline __u16 chain_port(struct __sk_buff *skb)
{
	struct pkt p;
	__u16 port;

	if (parse_ipv4(skb, &p) || p.proto != IPPROTO_UDP || !p.has_ports)
		return 0;
	port = bpf_ntohs(p.dport);
	if (port < CHAIN_PORT_FULL || port > CHAIN_PORT_ALT)
		return 0;
	return port;
}

/* set_mark ORs bits into skb->mark and returns the new mark. The barrier
 * keeps clang from computing &skb->mark once and reusing it across calls:
 * the verifier refuses a context pointer with an offset added. */
static __always_inline __u32 set_mark(struct __sk_buff *skb, __u32 bits)
{
	__u32 mark;

	barrier_var(skb);
	mark = skb->mark | bits;

	skb->mark = mark;
	return mark;
}

/* finish records the mark the packet leaves the chain with. */
static __always_inline int finish(__u16 port, __u32 mark)
{
	struct result *r, init = { .mark = mark, .packets = 1 };

	r = bpf_map_lookup_elem(&chain_results, &port);
	if (r) {
		r->mark = mark;
		__sync_fetch_and_add(&r->packets, 1);
	} else {
		bpf_map_update_elem(&chain_results, &port, &init, BPF_ANY);
	}
	return TC_ACT_OK;
}

SEC("tc")
int chain_entry_classifier(struct __sk_buff *skb)
{
	__u16 port = chain_port(skb);

	if (!port)
		return TC_ACT_UNSPEC; /* not ours: whatever comes next decides */
	stat_inc(CHAIN_STAT_ENTRY);
	barrier_var(skb);
	skb->mark = CHAIN_MARK_BASE | CHAIN_MARK_ENTRY;
	switch (port) {
	case CHAIN_PORT_FULL:
	case CHAIN_PORT_DEEP_MISS:
		bpf_tail_call(skb, &chain_jmp_a, CHAIN_A_INSPECT);
		break;
	case CHAIN_PORT_SHORTCUT:
		bpf_tail_call(skb, &chain_jmp_a, CHAIN_A_FINAL);
		break;
	case CHAIN_PORT_ALT:
		bpf_tail_call(skb, &chain_jmp_a, CHAIN_A_ALT);
		break;
	default:
		bpf_tail_call(skb, &chain_jmp_a, CHAIN_A_EMPTY);
		break;
	}
	/* Only reached when the slot was empty. */
	stat_inc(CHAIN_STAT_MISS_A);
	return finish(port, set_mark(skb, CHAIN_MARK_MISS_A));
}

SEC("tc")
int chain_stage_one_inspect(struct __sk_buff *skb)
{
	__u16 port = chain_port(skb);

	set_mark(skb, CHAIN_MARK_INSPECT);
	if (port == CHAIN_PORT_DEEP_MISS)
		bpf_tail_call(skb, &chain_jmp_b, CHAIN_B_EMPTY);
	else
		bpf_tail_call(skb, &chain_jmp_b, CHAIN_B_FINAL);
	stat_inc(CHAIN_STAT_MISS_B);
	return finish(port, set_mark(skb, CHAIN_MARK_MISS_B));
}

SEC("tc")
int chain_alt_rewriter(struct __sk_buff *skb)
{
	__u16 port = chain_port(skb);

	set_mark(skb, CHAIN_MARK_ALT);
	bpf_tail_call(skb, &chain_jmp_b, CHAIN_B_FINAL);
	stat_inc(CHAIN_STAT_MISS_B);
	return finish(port, set_mark(skb, CHAIN_MARK_MISS_B));
}

SEC("tc")
int chain_stage_two_finalize(struct __sk_buff *skb)
{
	__u16 port = chain_port(skb);

	stat_inc(CHAIN_STAT_FINAL);
	return finish(port, set_mark(skb, CHAIN_MARK_FINAL));
}
