/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Everything that crosses between pktlife's BPF programs and Go is defined
 * here, once. bpf2go generates the Go side with -type; bpf/sizes_test.go
 * checks that both sides agree on the layout. Fields are laid out with
 * explicit padding so that no compiler-inserted holes exist. */
#ifndef PKTLIFE_H
#define PKTLIFE_H

/* Where an event was observed. Values are stable: they appear in recorded
 * event streams (testdata/) and in the JSON schema by name. */
enum pl_hook {
	PL_HOOK_UNSPEC = 0,
	PL_HOOK_TC_INGRESS = 1,       /* pktlife's tc observer, ingress */
	PL_HOOK_TC_EGRESS = 2,        /* pktlife's tc observer, egress */
	PL_HOOK_NETIF_RX = 3,         /* tracepoint net:netif_rx */
	PL_HOOK_NETIF_RECEIVE_SKB = 4,/* tracepoint net:netif_receive_skb */
	PL_HOOK_NET_DEV_QUEUE = 5,    /* tracepoint net:net_dev_queue */
	PL_HOOK_NET_DEV_START_XMIT = 6,/* tracepoint net:net_dev_start_xmit */
	PL_HOOK_NET_DEV_XMIT = 7,     /* tracepoint net:net_dev_xmit (reason = rc) */
	PL_HOOK_KFREE_SKB = 8,        /* tracepoint skb:kfree_skb (reason = drop reason) */
	PL_HOOK_CONSUME_SKB = 9,      /* tracepoint skb:consume_skb */
	PL_HOOK_SOCK_DELIVER = 10,    /* handed to a local socket (cgroup_skb ingress) */
	PL_HOOK_TAIL_CALL = 11,       /* interposed tail-call shim (map_id, slot, prog_id) */
	PL_HOOK_PROG_ENTRY = 12,      /* fentry on a tc program (prog_id) */
	PL_HOOK_PROG_EXIT = 13,       /* fexit on a tc program (prog_id, reason = verdict) */
	PL_HOOK_KFUNC = 14,           /* kernel function entry (slot = hop id) */
	PL_HOOK_KFUNC_RET = 15,       /* kernel function return (slot = hop id, reason = ret) */
	PL_HOOK_SOCK_SEND = 16,       /* sent by a local socket (cgroup_skb egress) */
	PL_HOOK_MAX,
};

/* Event flags. */
enum pl_flags {
	PL_F_TUPLE = 1 << 0,   /* tuple was parsed from the packet */
	PL_F_TRACKED = 1 << 1, /* emitted because the skb was already tracked, not by a tuple match */
	PL_F_L4 = 1 << 2,      /* ports are valid */
};

/* Counters in the per-CPU stats array. */
enum pl_stat {
	PL_STAT_LOST = 0,      /* ringbuf reservations that failed: events lost */
	PL_STAT_EMITTED = 1,   /* events written */
	PL_STAT_MATCHED = 2,   /* packets that matched the filter (new tracking entries) */
	PL_STAT_NAT_FOLLOW = 3,/* events emitted for a tracked skb whose tuple changed */
	PL_STAT_SHIM_MISS = 4, /* a tail-call shim could not jump to the original program */
	PL_STAT_RATE_SKIPPED = 5, /* packets that matched but were not followed: over the rate limit */
	PL_STAT_MAX = 8,
};

/* Bits of the track_state word, shared by all programs. */
enum pl_state {
	/* Set by user space once every hop is attached: only then may a packet
	 * start a journey, so that no journey misses the hops attached after
	 * its first (traffic flows while pktlife attaches, one hop at a time). */
	PL_STATE_ARMED = 1,
	/* Set at the first match: until then nothing is tracked and the
	 * lookup in tracked is skipped. */
	PL_STATE_TRACKING = 2,
};

/* Addresses are 16 bytes; IPv4 sits in the first four bytes (family says
 * which). Ports are in host byte order. */
struct tuple {
	__u8 saddr[16];
	__u8 daddr[16];
	__u16 sport;
	__u16 dport;
	__u8 proto;
	__u8 family; /* 4 or 6, 0 when not IP */
	__u8 tcp_flags;
	__u8 _pad0;
	__u16 ip_id; /* IPv4 identification, host order */
	__u16 _pad1;
	__u32 _pad2;
};

struct event {
	__u64 ts;      /* bpf_ktime_get_ns */
	__u64 skb;     /* struct sk_buff address */
	__u32 netns;   /* network namespace inode */
	__u32 ifindex;
	__u32 len;     /* skb->len */
	__u32 mark;
	__u32 reason;  /* drop reason, verdict or return value, by hook */
	__u32 prog_id; /* BPF program, by hook */
	__u32 map_id;  /* prog_array of a tail call */
	__u32 slot;    /* prog_array slot, or kernel-function hop id */
	__u8 hook;     /* enum pl_hook */
	__u8 flags;    /* enum pl_flags */
	__u16 cpu;
	__u32 _pad0;
	struct tuple tuple;
	/* tail_call: the skb's cb[] words as the jump found them. A datapath
	 * hands its next program data there (Cilium: a drop's reason, exit
	 * code, file and line, before its drop-notification program). */
	__u32 cb[5];
	__u32 _pad1;
};

/* Per-CPU staging of events (the staging map in pktlife.c): observers
 * write their events here and one bpf_ringbuf_output copies a full buffer
 * to the CPU's ring, a record of n events one after another. busy is set
 * while a program on the CPU writes here: a program that interrupts it
 * writes its event to the ring directly. cpu is the CPU's number, written
 * by user space before the programs load. */
#define PL_STAGE_EVENTS 16

struct stage {
	__u32 n;
	__u32 cpu;
	__u64 busy; /* 64 bits: claimed with a 64-bit compare-and-exchange */
	struct event ev[PL_STAGE_EVENTS];
};

/* The first bytes of the packet, from its network header, that observers
 * append to their event when capture is on (snaplen in pktlife.c, for
 * --pcap). len is how many of data are the packet's: 0 when the bytes were
 * out of reach (no network header set, or not in the linear part). */
#define PL_SNAP_MAX 256

struct capture {
	__u16 len;
	__u16 _pad0;
	__u32 _pad1;
	__u8 data[PL_SNAP_MAX];
};

/* A filter expression (pktlife trace 'udp and port 53') is compiled by Go's
 * filter package into at most PL_FILTER_INSNS tests, each with the
 * instruction to continue at when it holds (jt) and when not (jf). Jumps
 * only go forward; a target of PL_FILTER_ACCEPT or more ends the program.
 * The values of these enums are filter.Kind's and filter.Side's (a test
 * in trace checks that they agree). */
#define PL_FILTER_INSNS 16

enum pl_filter_end {
	PL_FILTER_ACCEPT = 0x80,
	PL_FILTER_REJECT = 0x81,
};

enum pl_filter_kind {
	PL_FK_FAMILY = 1, /* t->family == family */
	PL_FK_PROTO = 2,  /* t->proto == proto (and family, unless 0) */
	PL_FK_NET = 3,    /* address on side, of family, & mask == addr */
	PL_FK_PORT = 4,   /* port on side in [lo, hi]; TCP/UDP/SCTP (or proto) */
	PL_FK_TCPFLAGS = 5, /* IPv4 TCP, (tcp_flags & lo) == hi, or != with op 1 */
};

enum pl_filter_side {
	PL_SIDE_SRC = 1,
	PL_SIDE_DST = 2,
	PL_SIDE_EITHER = 3,
	PL_SIDE_BOTH = 4,
};

struct filter_insn {
	__u8 addr[16]; /* already masked */
	__u8 mask[16];
	__u16 lo;
	__u16 hi;
	__u8 kind;     /* enum pl_filter_kind */
	__u8 side;     /* enum pl_filter_side */
	__u8 family;
	__u8 proto;
	__u8 jt;
	__u8 jf;
	__u8 op;       /* PL_FK_TCPFLAGS: 0 ==, 1 != */
	__u8 _pad0;
};

/* The packet filter, set before load as a volatile const so the verifier
 * prunes every test that is switched off. Addresses use the event's layout.
 * The flags' fields and the expression's program (nprog tests) must both
 * match. */
struct filter {
	__u8 src[16];      /* network, already masked */
	__u8 src_mask[16];
	__u8 dst[16];
	__u8 dst_mask[16];
	__u8 has_src;
	__u8 has_dst;
	__u8 proto;        /* 0 = any */
	__u8 family;       /* 0 = any */
	__u16 sport;       /* 0 = any */
	__u16 dport;
	__u8 reply;        /* also match the reverse direction */
	__u8 host;         /* src matches either side (--host); dst unused */
	__u8 port_any;     /* sport matches either side (--port) */
	__u8 match_dev;    /* packets must first be seen on a device in match_devs */
	__u8 match_netns;  /* ... in a namespace in match_devs (key ifindex 0) */
	__u8 nprog;        /* tests in prog; 0 = no expression */
	__u8 _pad0[2];
	struct filter_insn prog[PL_FILTER_INSNS];
};

/* Key of the match_devs set: a device, or with ifindex 0 a whole namespace. */
struct devkey {
	__u32 netns;
	__u32 ifindex;
};

/* A packet over the rate limit (--max-rate), in the skipped array: its
 * skb address, the jiffies of its last hop and its tuple, one cache line. */
#define PL_SKIP_SLOTS 8192

struct skipped_pkt {
	__u64 skb;
	__u64 jiffies;
	struct tuple tuple;
};

/* Value of the tracked-skb map: the last tuple seen and when. */
struct track {
	__u64 last_ts;
	struct tuple tuple;
};

#endif
