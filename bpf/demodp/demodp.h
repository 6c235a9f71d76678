/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Everything that crosses between the demo datapaths and Go is defined here,
 * once. bpf2go generates the Go side with -type; sizes_test.go checks that
 * both sides agree on the layout. Fields are laid out with explicit padding
 * so that no compiler-inserted holes exist. */
#ifndef DEMODP_H
#define DEMODP_H

/* ---- the demo datapath (demo.c) ----------------------------------------- */

/* Slots of the demo_calls prog_array. */
enum slot {
	DEMO_SLOT_NAT = 0,     /* demo_nat: service DNAT */
	DEMO_SLOT_POLICY = 1,  /* demo_policy: deny port, redirect to pod B */
	DEMO_SLOT_REV_NAT = 2, /* demo_rev_nat: reverse NAT, redirect to pod A */
	DEMO_SLOT_MAX = 4,
};

/* Counters in the per-CPU demo_stats array. */
enum stat {
	DEMO_STAT_FROM_POD = 0,     /* packets seen by demo_from_pod */
	DEMO_STAT_DNAT = 1,         /* packets rewritten by demo_nat */
	DEMO_STAT_POLICY_DROP = 2,  /* packets dropped by demo_policy */
	DEMO_STAT_REDIRECT_B = 3,   /* packets redirected to pod B */
	DEMO_STAT_PASS = 4,         /* packets handed back to the stack (TC_ACT_OK) */
	DEMO_STAT_FROM_BACKEND = 5, /* packets seen by demo_from_backend */
	DEMO_STAT_REV_NAT = 6,      /* replies rewritten by demo_rev_nat */
	DEMO_STAT_REDIRECT_A = 7,   /* replies redirected to pod A */
	DEMO_STAT_TAIL_MISS = 8,    /* tail calls that found an empty slot */
	DEMO_STAT_ERROR = 9,        /* rewrite helpers that failed */
	DEMO_STAT_MAX = 16,
};

/* Runtime settings, set on the spec before load (volatile const cfg).
 * Addresses are IPv4 in network byte order; ports in host byte order. */
struct svc_config {
	__be32 svc_addr;      /* service VIP */
	__be32 backend_addr;  /* pod B */
	__be32 client_net;    /* pod A's network, masked */
	__be32 client_mask;
	__u16 svc_port;       /* service port */
	__u16 backend_port;   /* pod B's port behind the service */
	__u16 deny_port;      /* destination port demo_policy drops */
	__u16 _pad0;
	__u32 client_ifindex; /* node-side veth of pod A */
	__u32 backend_ifindex; /* node-side veth of pod B */
};

/* Key of the demo_ct map: one client flow towards the service. */
struct ct_key {
	__be32 client_addr;
	__be16 client_port;
	__u8 proto;
	__u8 _pad0;
};

/* Value of the demo_ct map: what the client asked for and where it went. */
struct ct_entry {
	__be32 svc_addr;
	__be32 backend_addr;
	__be16 svc_port;
	__be16 backend_port;
	__u32 packets;        /* forward packets translated */
};

/* ---- the tail-call chain test datapath (chain.c) ------------------------ */

/* UDP destination ports that pick a path through the chain. */
enum port {
	CHAIN_PORT_FULL = 7001,     /* entry -> jmp_a[0] -> jmp_b[0]: three levels */
	CHAIN_PORT_SHORTCUT = 7002, /* entry -> jmp_a[2] (same program as jmp_b[0]) */
	CHAIN_PORT_MISS = 7003,     /* entry -> jmp_a[3], an empty slot: falls through */
	CHAIN_PORT_DEEP_MISS = 7004,/* entry -> jmp_a[0] -> jmp_b[1], empty: falls through */
	CHAIN_PORT_ALT = 7005,      /* entry -> jmp_a[1] -> jmp_b[0] */
};

/* Slots of the two prog_arrays. */
enum jump_slot {
	CHAIN_A_INSPECT = 0,  /* chain_jmp_a: chain_stage_one_inspect */
	CHAIN_A_ALT = 1,      /* chain_jmp_a: chain_alt_rewriter */
	CHAIN_A_FINAL = 2,    /* chain_jmp_a: chain_stage_two_finalize (shared) */
	CHAIN_A_EMPTY = 3,    /* chain_jmp_a: left empty on purpose */
	CHAIN_B_FINAL = 0,    /* chain_jmp_b: chain_stage_two_finalize (shared) */
	CHAIN_B_EMPTY = 1,    /* chain_jmp_b: left empty on purpose */
	CHAIN_SLOTS = 4,      /* max_entries of each prog_array */
};

/* Bits ORed into skb->mark by each program on the path. */
enum mark_bit {
	CHAIN_MARK_ENTRY = 0x1,       /* chain_entry_classifier ran */
	CHAIN_MARK_INSPECT = 0x2,     /* chain_stage_one_inspect ran */
	CHAIN_MARK_FINAL = 0x4,       /* chain_stage_two_finalize ran */
	CHAIN_MARK_ALT = 0x8,         /* chain_alt_rewriter ran */
	CHAIN_MARK_MISS_A = 0x100,    /* tail call into chain_jmp_a missed */
	CHAIN_MARK_MISS_B = 0x200,    /* tail call into chain_jmp_b missed */
	CHAIN_MARK_BASE = 0xc4a10000, /* set on every packet the chain classifies */
};

/* Counters in the per-CPU chain_stats array. */
enum counter {
	CHAIN_STAT_ENTRY = 0,  /* packets seen by the entry program */
	CHAIN_STAT_MISS_A = 1, /* missed tail calls into chain_jmp_a */
	CHAIN_STAT_MISS_B = 2, /* missed tail calls into chain_jmp_b */
	CHAIN_STAT_FINAL = 3,  /* packets that reached chain_stage_two_finalize */
	CHAIN_STAT_MAX = 8,
};

/* Value of chain_results, keyed by UDP destination port (host order): the
 * mark the last packet to that port left the chain with. */
struct result {
	__u32 mark;
	__u32 packets;
};

#endif
