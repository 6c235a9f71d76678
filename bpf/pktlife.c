//go:build ignore

// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* pktlife's observers: tc programs that run first on a device's ingress and
 * egress, and tracepoint programs on the receive, transmit, drop and
 * delivery paths. All of them share one decision — is this skb one we
 * follow? — and one ringbuf. */

#include "kernel.h"
#include "pktlife.h"

char __license[] SEC("license") = "Dual BSD/GPL";

/* Unused variables that put the shared enums into BTF for bpf2go -type. */
volatile const enum pl_hook __pl_hook_type;
volatile const enum pl_flags __pl_flags_type;
volatile const enum pl_stat __pl_stat_type;
volatile const enum pl_state __pl_state_type;
volatile const enum pl_filter_kind __pl_filter_kind_type;
volatile const enum pl_filter_side __pl_filter_side_type;
volatile const enum pl_filter_end __pl_filter_end_type;
/* ... and the ring buffers' record, which no map declares. */
volatile const struct event __pl_event_type;
volatile const struct capture __pl_capture_type;

/* Set by user space before load. */
volatile const struct filter cfg = {};
/* With hooks_only set, every observer returns at once: what the hooks
 * alone cost the datapath, for benchmarks (trace.Options.HooksOnly). The
 * verifier removes the test from programs where it is off. */
volatile const __u8 hooks_only = 0;
/* How long a tracked skb may stay silent before its address is treated as a
 * new packet. */
volatile const __u64 track_idle_ns = 1000000000ULL;

/* One ring buffer per CPU, so that CPUs writing events at once do not
 * contend for one ring's lock and producer position (about 75 ns per event
 * with two CPUs). The reader merges them by time. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1); /* set on the spec: the number of CPUs */
	__type(key, __u32);
	__array(values, struct {
		__uint(type, BPF_MAP_TYPE_RINGBUF);
		__uint(max_entries, 4096); /* set on the spec */
	});
} rings SEC(".maps");

/* ring is this CPU's ring buffer. */
static __always_inline void *ring(void)
{
	__u32 cpu = bpf_get_smp_processor_id();

	return bpf_map_lookup_elem(&rings, &cpu);
}

/* reserve reserves an event in this CPU's ring; NULL when it is full. */
static __always_inline struct event *reserve(void)
{
	void *rb = ring();

	if (!rb)
		return NULL;
	return bpf_ringbuf_reserve(rb, sizeof(struct event), 0);
}

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384); /* set on the spec */
	__type(key, __u64);
	__type(value, struct track);
} tracked SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PL_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

/* One word of enum pl_state bits: armed by user space, tracking from the
 * first match. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} track_state SEC(".maps");

/* Rate limit on new packets followed (--max-rate), per CPU: the generic
 * cell rate algorithm, with the theoretical arrival time of the next packet
 * in rate_tat. rate_interval_ns is 0 when there is no limit. */
volatile const __u64 rate_interval_ns = 0;
volatile const __u64 rate_burst_ns = 100000000ULL; /* credit that may build up */
/* How long a skipped packet's entry may stay silent, in jiffies: set from
 * track_idle_ns at HZ 1000, the highest usual HZ, so that at lower HZ it
 * lasts longer, never shorter. */
volatile const __u64 skip_idle_jiffies = 1000;

/* The rate limit's state on a CPU: the theoretical arrival time of its next
 * packet, and the clock when last read there, with the jiffies then. */
struct rate {
	__u64 tat;
	__u64 now;
	__u64 jiffies;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct rate);
} rate_tat SEC(".maps");

/* Packets over the rate limit, remembered where they cost least to
 * recognise: a slot of a plain array chosen by the skb's address (an
 * inlined lookup, not a hash), so that a skipped packet costs each later hop
 * what a packet that does not match costs. Written at the packet's first
 * hop; a free clears it. Two skipped packets sharing a slot at once is rare
 * (a packet crosses the node in microseconds): the older one's later hops
 * then take it for a new packet, which the rate limit decides again. Sized
 * on the spec: 1 without a rate limit. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, PL_SKIP_SLOTS);
	__type(key, __u32);
	__type(value, struct skipped_pkt);
} skipped SEC(".maps");

/* A count of the tracked entries that may be followed (last_ts set), by the
 * slot of their skb's address (addr_hash): a slot at 0 has none, and the
 * lookup in tracked, an LRU hash that costs ≈ 90 ns when it misses, is left
 * out for its addresses. A count may be higher than the truth (an entry
 * evicted while followed is never taken off): that costs only the lookup.
 * It must never be lower, or a followed packet would be lost; so it is
 * raised before an entry is followed and lowered after it is no longer, and
 * only by the program that holds the skb at the time, which two programs
 * never do at once (a program that runs after the skb may be freed, fexit
 * or net_dev_xmit, only reads). */
#define PL_LIVE_SLOTS 8192

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, PL_LIVE_SLOTS);
	__type(key, __u32);
	__type(value, __u32);
} live SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct devkey);
	__type(value, __u8);
} match_devs SEC(".maps");

static __always_inline void stat_inc(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&stats, &idx);
	if (v)
		*v += 1;
}

/* Wakeups of the reader. The kernel's default wakes it for every event
 * written while it has read everything, which at a moderate rate is every
 * event: an irq_work, often an interrupt, and a context switch each. With
 * wake_events set, events are submitted without a wakeup and each CPU wakes
 * the reader at every wake_events-th event it writes (an eighth of its
 * ring); the reader also polls on its own, so a trickle still shows
 * promptly. The count is the CPU's own EMITTED counter: no cache line is
 * shared with the reader or another CPU (asking the ring how much is unread
 * would read the reader's position). */
volatile const __u64 wake_events = 0;

/* wake_flags says how to commit n events with *emitted written before:
 * with a wakeup when they reach the next multiple of wake_events. */
static __always_inline __u64 wake_flags(__u64 *emitted, __u32 n)
{
	if (!wake_events || !emitted)
		return 0;
	return (*emitted + n) / wake_events != *emitted / wake_events ? BPF_RB_FORCE_WAKEUP
								      : BPF_RB_NO_WAKEUP;
}

static __always_inline __u64 *emitted_slot(void)
{
	__u32 idx = PL_STAT_EMITTED;

	return bpf_map_lookup_elem(&stats, &idx);
}

/* submit commits a reserved event and counts it. */
static __always_inline void submit(struct event *e)
{
	__u64 *n = emitted_slot();

	bpf_ringbuf_submit(e, wake_flags(n, 1));
	if (n)
		*n += 1;
}

/* ---- staging ---------------------------------------------------------- */

/* Set by user space where the kernel can run the flush program on a given
 * CPU (BPF_F_TEST_RUN_ON_CPU), so that events left staged on an idle CPU
 * still reach the reader: before it reads the rings, each reader round
 * flushes the CPUs whose oldest staged event is older than its horizon
 * (trace/staging.go). Without it every event is written to the ring
 * directly. */
volatile const __u8 stage_on = 0;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct stage);
} staging SEC(".maps");

#define pl_barrier() asm volatile("" ::: "memory")

/* stage_buf is this CPU's staging buffer; NULL when staging is off. */
static __always_inline struct stage *stage_buf(void)
{
	__u32 zero = 0;

	if (!stage_on)
		return NULL;
	return bpf_map_lookup_elem(&staging, &zero);
}

/* stage_take claims this CPU's staging buffer for one event; NULL when
 * staging is off or a program this one interrupted holds the buffer. It is
 * for programs that cannot be preempted (tc, tracepoints, cgroup ingress in
 * softirq): whatever interrupts one runs to its end before it resumes, so
 * a plain test and set of the flag suffices. Programs that may be preempted
 * claim the buffer with stage_take_cas, or (fentry/fexit, and cgroup egress
 * where the kernel has no BPF atomics) write to the ring directly. */
static __always_inline struct stage *stage_take(void)
{
	struct stage *st = stage_buf();

	if (!st || *(volatile __u64 *)&st->busy)
		return NULL;
	*(volatile __u64 *)&st->busy = 1;
	pl_barrier();
	return st;
}

/* stage_take_cas is stage_take for a program that may be preempted (cgroup
 * egress, in the sender's process; it cannot migrate): another program
 * that runs on the CPU while it is preempted, between its test and its
 * set, would take the buffer too, so the flag is claimed with one
 * compare-and-exchange (BPF atomics, 5.12). Only the program built for
 * kernels that have them (pl_sock_egress_cas) contains it. */
static __always_inline struct stage *stage_take_cas(void)
{
	struct stage *st = stage_buf();

	if (!st || __sync_val_compare_and_swap(&st->busy, 0, 1) != 0)
		return NULL;
	return st;
}

/* stage_out writes the first n staged events to the CPU's ring as one
 * record and counts them: all emitted, or all lost. */
static __always_inline void stage_out(struct stage *st, __u32 n)
{
	__u32 cpu = st->cpu;
	void *rb = bpf_map_lookup_elem(&rings, &cpu);
	__u64 *emitted = emitted_slot();

	if (n > PL_STAGE_EVENTS)
		n = PL_STAGE_EVENTS;
	if (!n)
		return;
	if (!rb || bpf_ringbuf_output(rb, st->ev, n * sizeof(struct event), wake_flags(emitted, n))) {
		__u32 idx = PL_STAT_LOST;
		__u64 *lost = bpf_map_lookup_elem(&stats, &idx);

		if (lost)
			*lost += n;
		return;
	}
	if (emitted)
		*emitted += n;
}

/* stage_put keeps the event just written in the buffer's next slot, and
 * writes the buffer to the ring when that filled it. */
static __always_inline void stage_put(struct stage *st)
{
	__u32 n = st->n + 1;

	if (n >= PL_STAGE_EVENTS) {
		stage_out(st, n);
		n = 0;
	}
	st->n = n;
	pl_barrier();
	*(volatile __u64 *)&st->busy = 0;
}

/* stage_slot is where an event goes: the buffer's next slot, or spare (on
 * the program's stack) when there is no buffer. */
static __always_inline struct event *stage_slot(struct stage *st, struct event *spare)
{
	if (!st)
		return spare;
	return &st->ev[st->n & (PL_STAGE_EVENTS - 1)];
}

/* emit completes an event written at stage_slot's place: kept in the
 * buffer, or the spare written to the ring alone. */
static __always_inline void emit(struct stage *st, struct event *e)
{
	void *rb;
	__u64 *emitted;

	if (st) {
		stage_put(st);
		return;
	}
	rb = ring();
	emitted = emitted_slot();
	if (!rb || bpf_ringbuf_output(rb, e, sizeof(*e), wake_flags(emitted, 1))) {
		stat_inc(PL_STAT_LOST);
		return;
	}
	if (emitted)
		*emitted += 1;
}

/* pl_stage_flush writes this CPU's staged events to its ring. User space
 * runs it on a CPU with BPF_PROG_TEST_RUN and BPF_F_TEST_RUN_ON_CPU (an
 * interrupt on that CPU) when the buffer holds events; it returns 1 when it
 * interrupted a program writing there, and user space tries again. */
SEC("raw_tp")
int pl_stage_flush(void *ctx)
{
	struct stage *st = stage_take();

	if (!st)
		return stage_on;
	stage_out(st, st->n);
	st->n = 0;
	pl_barrier();
	*(volatile __u64 *)&st->busy = 0;
	return 0;
}

/* ---- parsing ---------------------------------------------------------- */

#define ETH_P_IP 0x0800
#define ETH_P_ARP 0x0806
#define ETH_P_IPV6 0x86DD
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17
#define IPPROTO_SCTP 132

struct l3hdr {
	union {
		struct iphdr v4;
		struct ipv6hdr v6;
	};
};

/* parse_l3 fills t from the IP header in hdr and returns the offset of the
 * transport header relative to the network header, or -1. */
static __always_inline int parse_l3(struct tuple *t, struct l3hdr *h, __u16 proto)
{
	if (proto == bpf_htons(ETH_P_IP)) {
		if (h->v4.version != 4)
			return -1;
		t->family = 4;
		t->proto = h->v4.protocol;
		__builtin_memcpy(t->saddr, &h->v4.saddr, 4);
		__builtin_memcpy(t->daddr, &h->v4.daddr, 4);
		t->ip_id = bpf_ntohs(h->v4.id);
		if (h->v4.frag_off & bpf_htons(0x1fff))
			return -1; /* not the first fragment: no ports */
		return h->v4.ihl * 4;
	}
	if (proto == bpf_htons(ETH_P_IPV6)) {
		if (h->v6.version != 6)
			return -1;
		t->family = 6;
		t->proto = h->v6.nexthdr;
		__builtin_memcpy(t->saddr, &h->v6.saddr, 16);
		__builtin_memcpy(t->daddr, &h->v6.daddr, 16);
		return sizeof(struct ipv6hdr);
	}
	return -1;
}

struct l4hdr {
	__be16 sport;
	__be16 dport;
	__u8 rest[10]; /* through the TCP flags byte at offset 13 */
};

static __always_inline __u8 parse_l4(struct tuple *t, struct l4hdr *l4)
{
	switch (t->proto) {
	case IPPROTO_TCP:
		t->tcp_flags = l4->rest[9];
		/* fallthrough */
	case IPPROTO_UDP:
	case IPPROTO_SCTP:
		t->sport = bpf_ntohs(l4->sport);
		t->dport = bpf_ntohs(l4->dport);
		return PL_F_L4;
	}
	return 0;
}

/* A parse result, never emitted: the skb is no IP packet, nor one on its
 * way to be (ARP, or no protocol or network header set yet: a socket's
 * queued skb, say), so it cannot be a packet pktlife follows, even when its
 * address is one it tracks. Without a tuple otherwise, an skb at a tracked
 * address is taken for the followed packet (its headers may be out of
 * reach, or it may be encapsulated). */
#define PL_T_NOTIP 0x80

/* The network header and the transport header's first 14 bytes, read at
 * once: 56 bytes cover an IPv6 header (40) or an IPv4 header without
 * options (20) and then the transport header. */
struct hdrs {
	union {
		struct l3hdr l3;
		__u8 raw[56];
	};
};

/* parse_hdrs parses one read of n bytes (34 or more for IPv4, 54 or more
 * for IPv6). It returns -1 when the transport header lies beyond them
 * (IPv4 options) and leaves its offset in *off. */
static __always_inline int parse_hdrs(struct tuple *t, struct hdrs *h, __u16 proto, int *off)
{
	*off = parse_l3(t, &h->l3, proto);
	if (t->family == 0)
		return 0;
	if (*off == 20)
		return PL_F_TUPLE | parse_l4(t, (struct l4hdr *)&h->raw[20]);
	if (*off == 40)
		return PL_F_TUPLE | parse_l4(t, (struct l4hdr *)&h->raw[40]);
	if (*off < 0 || *off > 60)
		return PL_F_TUPLE;
	return -1;
}

/* parse_kernel reads the tuple of a kernel skb, given its head,
 * network_header and protocol: one read for both headers, a second only
 * for IPv4 with options. */
static __always_inline __u8 parse_kernel(struct tuple *t, unsigned char *head, __u16 nh, __u16 proto)
{
	struct hdrs h;
	struct l4hdr l4;
	int off, r;

	if (!head || nh == (__u16)~0U || !proto || proto == bpf_htons(ETH_P_ARP))
		return PL_T_NOTIP;
	if (proto != bpf_htons(ETH_P_IP) && proto != bpf_htons(ETH_P_IPV6))
		return 0;
	if (bpf_probe_read_kernel(&h, sizeof(h), head + nh))
		return 0;
	r = parse_hdrs(t, &h, proto, &off);
	if (r >= 0)
		return r;
	if (bpf_probe_read_kernel(&l4, sizeof(l4), head + nh + off))
		return PL_F_TUPLE;
	return PL_F_TUPLE | parse_l4(t, &l4);
}

/* parse_tc_fast reads both headers of the packet a tc or cgroup program sees
 * with one helper call. It returns 0xff when parse_tc's careful path must
 * decide (short packets, IPv4 options). */
static __always_inline __u8 parse_tc_fast(struct tuple *t, struct __sk_buff *ctx)
{
	struct hdrs h;
	int off, r;
	__u32 n;

	if (ctx->protocol == bpf_htons(ETH_P_IP))
		n = 34;
	else if (ctx->protocol == bpf_htons(ETH_P_IPV6))
		n = 54;
	else if (ctx->protocol == bpf_htons(ETH_P_ARP))
		return PL_T_NOTIP;
	else
		return 0;
	if (bpf_skb_load_bytes_relative(ctx, 0, &h, n, BPF_HDR_START_NET))
		return 0xff;
	r = parse_hdrs(t, &h, ctx->protocol, &off);
	if (r < 0)
		return 0xff;
	return r;
}

/* parse_tc reads the tuple of the packet a tc program sees. */
static __always_inline __u8 parse_tc(struct tuple *t, struct __sk_buff *ctx)
{
	struct l3hdr h;
	struct l4hdr l4;
	int off;

	if (ctx->protocol == bpf_htons(ETH_P_IP)) {
		if (bpf_skb_load_bytes_relative(ctx, 0, &h, sizeof(struct iphdr), BPF_HDR_START_NET))
			return 0;
	} else if (ctx->protocol == bpf_htons(ETH_P_IPV6)) {
		if (bpf_skb_load_bytes_relative(ctx, 0, &h, sizeof(struct ipv6hdr), BPF_HDR_START_NET))
			return 0;
	} else {
		return 0;
	}
	off = parse_l3(t, &h, ctx->protocol);
	if (t->family == 0)
		return 0;
	if (off < 0 || off > 60)
		return PL_F_TUPLE;
	if (bpf_skb_load_bytes_relative(ctx, off, &l4, sizeof(l4), BPF_HDR_START_NET)) {
		/* short packet (e.g. UDP with no payload): ports only */
		if (bpf_skb_load_bytes_relative(ctx, off, &l4, 4, BPF_HDR_START_NET))
			return PL_F_TUPLE;
		if (t->proto == IPPROTO_TCP)
			return PL_F_TUPLE;
	}
	return PL_F_TUPLE | parse_l4(t, &l4);
}

/* ---- parsing with plain loads (6.2 and later) ------------------------ */

/* bpf_rdonly_cast makes an address a read-only pointer to a kernel type,
 * read with plain loads that the kernel guards against faults (a faulting
 * load reads 0), so no helper call; bpf_cast_to_kern_ctx gives a tc or
 * cgroup program its sk_buff. The verifier turns both into a register move.
 * Weak: where the kernel lacks them the loader poisons the calls, and
 * fast_parse, off there (kernelFeatures.fastParse), lets the verifier drop
 * the code that makes them. */
extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym __weak;
extern void *bpf_cast_to_kern_ctx(void *ctx) __ksym __weak;

volatile const __u8 fast_parse = 0;

/* parse_linear's answer when the headers are not all in the skb's linear
 * data (or the network header is unset): the helper path decides. */
#define PL_DEFER 0xff

/* The in-place parsers share the reading of each header: ip4_fields,
 * ip6_fields and l4_fields read fields from a pointer their caller has
 * bounds-checked, whatever kind it is (a read-only cast, or a packet
 * pointer: the verifier checks each inlined copy with its own). */

/* ip4_fields fills t from an IPv4 header; it returns the transport
 * header's offset, 0 for a later fragment (no ports), -1 when the version
 * is not 4. */
static __always_inline int ip4_fields(struct tuple *t, const struct iphdr *ip)
{
	__u8 vihl = *(const __u8 *)ip; /* version and ihl: one load */

	if (vihl >> 4 != 4)
		return -1;
	t->family = 4;
	t->proto = ip->protocol;
	*(__u32 *)t->saddr = ip->saddr;
	*(__u32 *)t->daddr = ip->daddr;
	t->ip_id = bpf_ntohs(ip->id);
	if (ip->frag_off & bpf_htons(0x1fff))
		return 0;
	return (vihl & 0xf) * 4;
}

/* ip6_fields is ip4_fields for IPv6: the offset is the fixed header's. */
static __always_inline int ip6_fields(struct tuple *t, const struct ipv6hdr *ip6)
{
	if (ip6->version != 6)
		return -1;
	t->family = 6;
	t->proto = ip6->nexthdr;
	__builtin_memcpy(t->saddr, &ip6->saddr, 16);
	__builtin_memcpy(t->daddr, &ip6->daddr, 16);
	return sizeof(*ip6);
}

/* l4_need is how many bytes of t's transport header the tuple takes: 14
 * for TCP (through the flags), 4 (ports) for UDP and SCTP, 0 for others. */
static __always_inline __u32 l4_need(const struct tuple *t)
{
	switch (t->proto) {
	case IPPROTO_TCP:
		return 14;
	case IPPROTO_UDP:
	case IPPROTO_SCTP:
		return 4;
	}
	return 0;
}

/* l4_fields reads the ports (and TCP's flags) from l4_need bytes. */
static __always_inline __u8 l4_fields(struct tuple *t, const __u8 *l4)
{
	if (t->proto == IPPROTO_TCP)
		t->tcp_flags = l4[13];
	t->sport = bpf_ntohs(*(const __be16 *)l4);
	t->dport = bpf_ntohs(*(const __be16 *)(l4 + 2));
	return PL_F_TUPLE | PL_F_L4;
}

/* parse_linear parses an IPv4 or IPv6 packet's headers in place, from the
 * skb's linear data (head to tail), as bpf_skb_load_bytes_relative would
 * read them from the network header. It reads nothing past the linear data,
 * so that its answer is the helper path's for the same bytes, and defers
 * where that path must decide. t is left partly filled when it defers. */
static __always_inline __u8 parse_linear(struct tuple *t, struct sk_buff *skb, __u16 proto)
{
	unsigned char *head = skb->head;
	__u32 nh = skb->network_header, tail = skb->tail, need;
	int off;

	if (!head || nh == (__u16)~0U)
		return PL_DEFER;
	if (proto == bpf_htons(ETH_P_IP)) {
		if (nh + sizeof(struct iphdr) > tail)
			return PL_DEFER;
		off = ip4_fields(t, bpf_rdonly_cast(head + nh, bpf_core_type_id_kernel(struct iphdr)));
	} else {
		if (nh + sizeof(struct ipv6hdr) > tail)
			return PL_DEFER;
		off = ip6_fields(t, bpf_rdonly_cast(head + nh, bpf_core_type_id_kernel(struct ipv6hdr)));
	}
	if (off < 0)
		return 0;
	need = l4_need(t);
	if (!off || !need)
		return PL_F_TUPLE;
	if (nh + off + need > tail)
		return PL_DEFER;
	return l4_fields(t, bpf_rdonly_cast(head + nh + off, bpf_core_type_id_kernel(struct tcphdr)));
}

/* parse_direct is parse_linear for a tc or cgroup_skb program: the same
 * bytes (ctx->data to data_end is the linear data), read with direct
 * packet access, whose loads are plain ones where a cast pointer's each
 * carry a fault guard; only the network header's offset comes from the
 * sk_buff. */
static __always_inline __u8 parse_direct(struct tuple *t, struct __sk_buff *ctx, __u16 proto)
{
	struct sk_buff *skb = bpf_cast_to_kern_ctx(ctx);
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	__u32 nh = skb->network_header - (__u32)(skb->data - skb->head), need;
	__u8 *l4;
	int off;

	if (nh > 255)
		return PL_DEFER; /* unset, or before data: unusual, the helper decides */
	if (proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = data + nh;

		if ((void *)(ip + 1) > end)
			return PL_DEFER;
		off = ip4_fields(t, ip);
	} else {
		struct ipv6hdr *ip6 = data + nh;

		if ((void *)(ip6 + 1) > end)
			return PL_DEFER;
		off = ip6_fields(t, ip6);
	}
	if (off < 0)
		return 0;
	need = l4_need(t);
	if (!off || !need)
		return PL_F_TUPLE;
	l4 = data + nh + off;
	if ((void *)(l4 + 4) > end)
		return PL_DEFER;
	if (need == 14 && (void *)(l4 + 14) > end)
		return PL_DEFER;
	return l4_fields(t, l4);
}

/* ---- matching --------------------------------------------------------- */

static __always_inline bool in_net(const __u8 *addr, const volatile __u8 *net,
				   const volatile __u8 *mask)
{
	const __u32 *a = (const __u32 *)addr;
	const volatile __u32 *n = (const volatile __u32 *)net;
	const volatile __u32 *m = (const volatile __u32 *)mask;

	return ((a[0] & m[0]) == n[0]) && ((a[1] & m[1]) == n[1]) &&
	       ((a[2] & m[2]) == n[2]) && ((a[3] & m[3]) == n[3]);
}

static __always_inline bool side_test(__u8 side, bool s, bool d)
{
	switch (side) {
	case PL_SIDE_SRC:
		return s;
	case PL_SIDE_DST:
		return d;
	case PL_SIDE_BOTH:
		return s && d;
	}
	return s || d;
}

/* filter_test runs one test of the expression's program (filter.Insn's
 * match in Go). */
static __always_inline bool filter_test(const volatile struct filter_insn *in, const struct tuple *t,
					__u8 tflags, const __u8 *s, const __u8 *d, __u16 sp, __u16 dp)
{
	switch (in->kind) {
	case PL_FK_FAMILY:
		return t->family == in->family;
	case PL_FK_PROTO:
		return (!in->family || t->family == in->family) && t->proto == in->proto;
	case PL_FK_NET:
		if (t->family != in->family)
			return false;
		return side_test(in->side, in_net(s, in->addr, in->mask), in_net(d, in->addr, in->mask));
	case PL_FK_PORT:
		if (!(tflags & PL_F_L4) || (in->proto && t->proto != in->proto))
			return false;
		return side_test(in->side, sp >= in->lo && sp <= in->hi, dp >= in->lo && dp <= in->hi);
	case PL_FK_TCPFLAGS:
		if (!(tflags & PL_F_L4) || t->family != 4 || t->proto != IPPROTO_TCP)
			return false;
		return ((t->tcp_flags & in->lo) == in->hi) != (in->op == 1);
	}
	return false;
}

/* filter_run runs the expression's program: jumps go forward, so it ends
 * after at most nprog tests. Not unrolled: one copy of a test, whatever the
 * program's length. */
static __always_inline bool filter_run(const struct tuple *t, __u8 tflags, const __u8 *s,
				       const __u8 *d, __u16 sp, __u16 dp)
{
	__u32 pc = 0;

#pragma clang loop unroll(disable)
	for (int i = 0; i < PL_FILTER_INSNS; i++) {
		if (pc >= cfg.nprog || pc >= PL_FILTER_INSNS)
			break;
		const volatile struct filter_insn *in = &cfg.prog[pc];
		pc = filter_test(in, t, tflags, s, d, sp, dp) ? in->jt : in->jf;
	}
	return pc == PL_FILTER_ACCEPT;
}

static __always_inline bool match_dir(const struct tuple *t, __u8 tflags, const __u8 *s,
				      const __u8 *d, __u16 sp, __u16 dp)
{
	if (cfg.host) {
		if (!in_net(s, cfg.src, cfg.src_mask) && !in_net(d, cfg.src, cfg.src_mask))
			return false;
	} else {
		if (cfg.has_src && !in_net(s, cfg.src, cfg.src_mask))
			return false;
		if (cfg.has_dst && !in_net(d, cfg.dst, cfg.dst_mask))
			return false;
	}
	if (cfg.port_any) {
		if (sp != cfg.sport && dp != cfg.sport)
			return false;
	} else {
		if (cfg.sport && sp != cfg.sport)
			return false;
		if (cfg.dport && dp != cfg.dport)
			return false;
	}
	if (cfg.nprog && !filter_run(t, tflags, s, d, sp, dp))
		return false;
	return true;
}

static __always_inline bool match_tuple(struct tuple *t, __u8 tflags)
{
	if (!(tflags & PL_F_TUPLE))
		return false;
	if (cfg.proto && t->proto != cfg.proto)
		return false;
	if (cfg.family && t->family != cfg.family)
		return false;
	if ((cfg.sport || cfg.dport) && !(tflags & PL_F_L4))
		return false;
	if (match_dir(t, tflags, t->saddr, t->daddr, t->sport, t->dport))
		return true;
	return cfg.reply && match_dir(t, tflags, t->daddr, t->saddr, t->dport, t->sport);
}

static __always_inline bool same_side(const __u8 *a, __u16 ap, const __u8 *b, __u16 bp)
{
	const __u32 *x = (const __u32 *)a, *y = (const __u32 *)b;
	return ap == bp && x[0] == y[0] && x[1] == y[1] && x[2] == y[2] && x[3] == y[3];
}

static __always_inline __u64 *state_word(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&track_state, &zero);
}

/* addr_hash is an skb address's hash, whose low bits choose its slot in the
 * skipped and live arrays. skbs come from slab caches of 256-byte (and
 * larger) objects: the bits above 8 tell them apart. A tc or cgroup
 * program's skb is its context, a pointer the verifier lets no arithmetic
 * touch; its low half, copied with a 32-bit move, is a plain number (for
 * programs allowed to see addresses, as every pktlife program is: events
 * carry them). trace.liveSlot computes it in Go for a test. */
static __always_inline __u32 addr_hash(__u64 skb)
{
	__u64 lo;

	/* a 32-bit move (w1 = w1): the verifier makes an unknown number of it */
	asm volatile("r1 = %[skb]\n\tw1 = w1\n\t%[lo] = r1" : [lo] "=r"(lo) : [skb] "r"(skb) : "r1");
	return (lo >> 8) ^ (lo >> 21);
}

static __always_inline struct skipped_pkt *skip_slot(__u64 skb)
{
	__u32 idx = addr_hash(skb) & (PL_SKIP_SLOTS - 1);

	return bpf_map_lookup_elem(&skipped, &idx);
}

/* maybe_live says whether a tracked entry at skb's address may be followed
 * (see live): when not, looking it up is no use. */
static __always_inline bool maybe_live(__u64 skb)
{
	__u32 idx = addr_hash(skb) & (PL_LIVE_SLOTS - 1);
	__u32 *n = bpf_map_lookup_elem(&live, &idx);

	return !n || *n;
}

/* live_add counts an entry at skb's address that starts (1) or stops (-1)
 * being followed. */
static __always_inline void live_add(__u64 skb, __s32 d)
{
	__u32 idx = addr_hash(skb) & (PL_LIVE_SLOTS - 1);
	__u32 *n = bpf_map_lookup_elem(&live, &idx);

	if (n)
		__sync_fetch_and_add(n, d);
}

/* followed returns the entry of an skb pktlife follows and reports: tracked,
 * not freed (last_ts 0) and not skipped by the rate limit; NULL otherwise.
 * Its callers read no tuple: the address decides, and the address of a
 * packet skipped at an earlier hop is cheaper to recognise than a tracked
 * one (a packet is admitted only after its address's slot is cleared). */
static __always_inline struct track *followed(__u64 skb)
{
	__u64 *st = state_word();
	struct track *tr;

	if (!st || !(*st & PL_STATE_TRACKING))
		return NULL;
	if (rate_interval_ns) {
		struct skipped_pkt *s = skip_slot(skb);

		if (s && s->skb == skb)
			return NULL;
	}
	if (!maybe_live(skb))
		return NULL;
	tr = bpf_map_lookup_elem(&tracked, &skb);
	if (!tr || !tr->last_ts)
		return NULL;
	return tr;
}

/* ---- the shared decision and emit ------------------------------------- */

/* What an event says about the packet, gathered by the hook. */
struct obs {
	__u64 skb;
	__u32 netns;
	__u32 ifindex;
	__u32 len;
	__u32 mark;
	__u32 reason;
	__u32 slot;    /* kernel-function hop id */
	__u32 prog_id; /* BPF program entered or left (passive tail calls) */
	__u8 hook;
	__u8 tflags;
	/* the skb may be freed and reused already (fexit): the program does
	 * not hold it, and only reports it if followed, changing nothing */
	bool late;
	struct tuple t;
};

/* Where a hook reads the packet's device, namespace, length and mark from.
 * It is always a constant at the call site, so that each program keeps only
 * its own way: the verifier of older kernels (6.1) cannot follow a choice
 * made at run time between a context, a BTF pointer and a plain number. */
enum obs_src {
	OBS_TC,     /* a tc or cgroup_skb context */
	OBS_TC_CAS, /* the same, in a program that may be preempted: it stages
		     * its events with stage_take_cas */
	OBS_BTF,    /* a BTF pointer to the skb (tp_btf): plain loads */
	OBS_RAW,    /* an skb address (raw_tp, kprobe, fentry arguments): probe reads */
};

/* ctx_src says whether src reads from a tc or cgroup_skb context. */
static __always_inline bool ctx_src(const enum obs_src src)
{
	return src == OBS_TC || src == OBS_TC_CAS;
}

/* parse_skb is parse_kernel on an skb: read with plain loads where it is a
 * BTF pointer (OBS_BTF), with probe reads where it is only an address. */
static __always_inline __u8 parse_skb(struct tuple *t, struct sk_buff *skb, const enum obs_src src)
{
	if (src == OBS_BTF && fast_parse) {
		__u16 proto = skb->protocol;
		__u8 r;

		if (proto != bpf_htons(ETH_P_IP) && proto != bpf_htons(ETH_P_IPV6))
			return !proto || proto == bpf_htons(ETH_P_ARP) ? PL_T_NOTIP : 0;
		r = parse_linear(t, skb, proto);
		if (r != PL_DEFER)
			return r;
		__builtin_memset(t, 0, sizeof(*t));
	}
	if (src == OBS_BTF)
		return parse_kernel(t, skb->head, skb->network_header, skb->protocol);
	return parse_kernel(t, BPF_CORE_READ(skb, head), BPF_CORE_READ(skb, network_header),
			    BPF_CORE_READ(skb, protocol));
}

static __always_inline __u32 dev_netns(struct net_device *dev)
{
	return BPF_CORE_READ(dev, nd_net.net, ns.inum);
}

/* fill_meta reads what an event needs beyond the tuple, once the packet is
 * known to be kept. Before a packet has a device (ip_output's entry, say)
 * the namespace comes from its socket. */
static __always_inline void fill_meta(struct obs *o, const enum obs_src src, struct __sk_buff *ctx,
				      struct sk_buff *skb, struct net_device *dev)
{
	if (ctx_src(src)) {
		o->ifindex = ctx->ifindex;
		o->len = ctx->len;
		o->mark = ctx->mark;
		if (fast_parse) {
			/* the sk_buff behind the context: plain loads, where
			 * probe reads cost a helper call for each of three */
			struct net_device *d = ((struct sk_buff *)bpf_cast_to_kern_ctx(ctx))->dev;

			o->netns = d ? d->nd_net.net->ns.inum : 0;
		} else {
			o->netns = dev_netns(BPF_CORE_READ((struct sk_buff *)ctx, dev));
		}
		return;
	}
	if (src == OBS_BTF) {
		struct sock *sk;

		if (!dev)
			dev = skb->dev;
		if (dev) {
			o->ifindex = dev->ifindex;
			o->netns = dev->nd_net.net->ns.inum;
		} else if ((sk = skb->sk)) {
			o->netns = sk->__sk_common.skc_net.net->ns.inum;
		}
		o->len = skb->len;
		o->mark = skb->mark;
		return;
	}
	if (!dev)
		dev = BPF_CORE_READ(skb, dev);
	if (dev) {
		o->ifindex = BPF_CORE_READ(dev, ifindex);
		o->netns = dev_netns(dev);
	} else {
		o->netns = BPF_CORE_READ(skb, sk, __sk_common.skc_net.net, ns.inum);
	}
	o->len = BPF_CORE_READ(skb, len);
	o->mark = BPF_CORE_READ(skb, mark);
}

/* ---- packet capture (--pcap) ----------------------------------------- */

/* With snaplen set, observe appends a struct capture with the packet's
 * first snaplen bytes (at most PL_SNAP_MAX) from its network header to each
 * event. With it 0 the verifier removes every capture path, and events keep
 * their size. Only observe captures: net_dev_xmit's skb may be freed, and a
 * tail-call shim never reads the packet. */
volatile const __u32 snaplen = 0;

/* reserve_obs reserves observe's record: an event, and its capture when
 * capture is on. */
static __always_inline struct event *reserve_obs(void)
{
	void *rb;

	if (!snaplen)
		return reserve();
	rb = ring();
	if (!rb)
		return NULL;
	return bpf_ringbuf_reserve(rb, sizeof(struct event) + sizeof(struct capture), 0);
}

/* capture copies the packet's bytes from its network header into the
 * record after e: no more than the packet holds from there, nor than its
 * linear part holds (the rest is in pages a probe read cannot follow). */
static __always_inline void capture(struct event *e, struct sk_buff *skb)
{
	struct capture *c = (struct capture *)(e + 1);
	unsigned char *head = BPF_CORE_READ(skb, head);
	long data = (long)BPF_CORE_READ(skb, data) - (long)head;
	long nh = BPF_CORE_READ(skb, network_header);
	long tail = BPF_CORE_READ(skb, tail);
	long avail = (long)BPF_CORE_READ(skb, len) - (nh - data);
	long n = snaplen;

	c->len = 0;
	c->_pad0 = 0;
	c->_pad1 = 0;
	if (!head || nh == (__u16)~0U || nh < 0)
		return;
	if (tail - nh < avail)
		avail = tail - nh;
	if (avail < n)
		n = avail;
	if (n <= 0)
		return;
	if (n > PL_SNAP_MAX)
		n = PL_SNAP_MAX;
	if (bpf_probe_read_kernel(c->data, n, head + nh))
		return;
	c->len = n;
}

/* rate_admit says whether a new packet may be followed now, and sets *now
 * to the clock when it may. Most packets of a flood over the limit are
 * refused without the clock (≈ 30 ns): while the jiffies have not moved since
 * the CPU last read it, the time then stands for now. That time is earlier,
 * so the limit may refuse a packet it would have admitted later in the
 * tick, never admit one it would refuse; the credit stays for the next tick's
 * packets, so that over a second as many are followed. *j is the jiffies. */
static __always_inline bool rate_admit(__u64 *now, __u64 *j)
{
	__u32 zero = 0;
	struct rate *r;
	__u64 t;

	*j = 0;
	if (!rate_interval_ns) {
		*now = bpf_ktime_get_ns();
		return true;
	}
	r = bpf_map_lookup_elem(&rate_tat, &zero);
	*j = bpf_jiffies64();
	if (r && *j == r->jiffies && r->tat > r->now && r->tat - r->now > rate_burst_ns)
		return false;
	*now = bpf_ktime_get_ns();
	if (!r)
		return true;
	r->now = *now;
	r->jiffies = *j;
	t = r->tat;
	if (t < *now)
		t = *now;
	if (t - *now > rate_burst_ns)
		return false;
	r->tat = t + rate_interval_ns;
	return true;
}

static __always_inline bool terminal_hook(__u8 hook)
{
	return hook == PL_HOOK_KFREE_SKB || hook == PL_HOOK_CONSUME_SKB;
}

/* same_packet says whether a packet seen now (t) is the one last seen at
 * its skb address (was), given that the address is still fresh. IPv4
 * packets of one socket carry consecutive IDs, and NAT keeps them: another
 * ID is another packet, even of the same flow. Otherwise the packet is the
 * same when both sides are, or when NAT rewrote one of them (*nat). */
static __always_inline bool same_packet(const struct obs *o, const struct tuple *was, bool *nat)
{
	const struct tuple *t = &o->t;
	bool same_src, same_dst;

	*nat = false;
	if (o->tflags & PL_T_NOTIP)
		return false; /* not an IP packet: another skb at the address */
	if (t->ip_id && was->ip_id && t->ip_id != was->ip_id)
		return false;
	if (!(o->tflags & PL_F_TUPLE))
		return true; /* headers out of reach: the address decides */
	same_src = same_side(t->saddr, t->sport, was->saddr, was->sport);
	same_dst = same_side(t->daddr, t->dport, was->daddr, was->dport);
	if (same_src && same_dst)
		return true;
	*nat = (same_src || same_dst) && t->proto == was->proto;
	return *nat;
}

/* was_skipped says whether o is a packet the rate limit skipped at an
 * earlier hop; it keeps the slot fresh, and clears it at the packet's
 * free. A load of jiffies, no clock. */
static __always_inline bool was_skipped(struct obs *o)
{
	struct skipped_pkt *s;
	__u64 j;
	bool nat;

	if (!rate_interval_ns)
		return false;
	s = skip_slot(o->skb);
	if (!s || s->skb != o->skb)
		return false;
	if (!same_packet(o, &s->tuple, &nat))
		goto other;
	/* An IPv4 packet's ID tells it from the address's next packet: the
	 * flow's would come back only after 65 535 others. Without one, the
	 * slot must be fresh, which costs a helper call. */
	if (!o->t.ip_id || !s->tuple.ip_id) {
		j = bpf_jiffies64();
		if (j - s->jiffies > skip_idle_jiffies)
			goto other;
		s->jiffies = j;
	}
	if (terminal_hook(o->hook))
		s->skb = 0;
	else if (nat)
		s->tuple = o->t;
	return true;
other:
	s->skb = 0; /* the address carries another packet now */
	return false;
}

/* skip remembers a packet the rate limit does not admit, at jiffies j. */
static __always_inline void skip(struct obs *o, __u64 j)
{
	struct skipped_pkt *s = skip_slot(o->skb);

	stat_inc(PL_STAT_RATE_SKIPPED);
	if (!s || terminal_hook(o->hook))
		return;
	s->skb = o->skb;
	s->jiffies = j;
	s->tuple = o->t;
}

/* unskip forgets a skipped packet whose free was not seen, when another
 * packet at its address is admitted. */
static __always_inline void unskip(struct obs *o)
{
	struct skipped_pkt *s;

	if (!rate_interval_ns)
		return;
	s = skip_slot(o->skb);
	if (s && s->skb == o->skb)
		s->skb = 0;
}

/* unfollow marks o's entry (tr) stale: its packet is no longer followed. */
static __always_inline void unfollow(struct obs *o, struct track *tr)
{
	tr->last_ts = 0;
	live_add(o->skb, -1);
}

/* track starts following o's packet, in the entry at its address (tr, or
 * one that observe did not look up as none could be followed) when there
 * is one. The live count is raised first: the entry is never followed
 * without it. An entry still followed (the address's last packet, freed
 * without a traced free) is already counted, and passes to this packet as
 * it is. */
static __always_inline void track(struct obs *o, struct track *tr, __u64 *st, __u64 now)
{
	struct track *old, nt = {.last_ts = now, .tuple = o->t};

	if (tr) {
		if (!tr->last_ts)
			live_add(o->skb, 1);
		tr->tuple = o->t;
		tr->last_ts = now;
		return;
	}
	live_add(o->skb, 1);
	old = bpf_map_lookup_elem(&tracked, &o->skb);
	if (old) {
		old->tuple = o->t;
		old->last_ts = now;
		return;
	}
	if (bpf_map_update_elem(&tracked, &o->skb, &nt, BPF_NOEXIST)) {
		live_add(o->skb, -1);
		return;
	}
	if (!(*st & PL_STATE_TRACKING))
		*st |= PL_STATE_TRACKING;
}

/* fill_event writes observe's event. */
static __always_inline void fill_event(struct event *e, const struct obs *o, __u64 now, __u8 flags,
				       __u16 cpu)
{
	e->ts = now;
	e->skb = o->skb;
	e->netns = o->netns;
	e->ifindex = o->ifindex;
	e->len = o->len;
	e->mark = o->mark;
	e->reason = o->reason;
	e->prog_id = o->prog_id;
	e->map_id = 0;
	e->slot = o->slot;
	e->hook = o->hook;
	e->flags = flags;
	e->cpu = cpu;
	e->_pad0 = 0;
	e->tuple = o->t;
	__builtin_memset(e->cb, 0, sizeof(e->cb) + sizeof(e->_pad1));
}

/* emit_obs writes observe's event: staged, unless capture is on (its
 * records go to the ring one by one, with the packet's bytes) or the hook
 * may be preempted (see stage_take). */
static __always_inline void emit_obs(struct obs *o, const enum obs_src src, struct __sk_buff *ctx,
				     struct sk_buff *skb, __u64 now, __u8 flags)
{
	struct event spare, *e;
	struct stage *st = NULL;

	if (snaplen) {
		e = reserve_obs();
		if (!e) {
			stat_inc(PL_STAT_LOST);
			return;
		}
		fill_event(e, o, now, flags, bpf_get_smp_processor_id());
		capture(e, ctx_src(src) ? (struct sk_buff *)ctx : skb);
		submit(e);
		return;
	}
	if (src == OBS_TC_CAS)
		st = stage_take_cas();
	else if (o->hook < PL_HOOK_PROG_ENTRY)
		st = stage_take();
	e = stage_slot(st, &spare);
	fill_event(e, o, now, flags, st ? st->cpu : bpf_get_smp_processor_id());
	emit(st, e);
}

/* observe decides whether o's skb is followed and, if so, emits an event.
 * What it decides on comes first (a packet the rate limit skipped, the
 * tracked lookup, the tuple match); the clock, device and the rest are read
 * only for a packet it keeps, so a packet that does not match, or that was
 * skipped, costs one header read and a few compares.
 *
 * Entries of the tracked map are reused in place: skb addresses come back
 * at once, so a free or a different packet at the address marks the entry
 * stale (last_ts 0) instead of deleting it, and the next packet that
 * matches there overwrites it. track_state's PL_STATE_TRACKING, set at the
 * first match, switches the lookup on, and the live count leaves it out for
 * addresses where no entry is followed; a new packet is followed only once
 * user space has set PL_STATE_ARMED. */
static __always_inline void observe(struct obs *o, const enum obs_src src, struct __sk_buff *ctx,
				    struct sk_buff *skb, struct net_device *dev)
{
	/* set before use on every path the program can take, but 5.10's
	 * verifier does not see that a followed packet's path read it */
	__u64 now = 0, j;
	__u64 *st;
	struct track *tr = NULL;
	bool follow = false, nat = false, other = false;
	__u8 flags = o->tflags & ~PL_T_NOTIP;

	if (was_skipped(o))
		return;
	st = state_word();
	if (st && (*st & PL_STATE_TRACKING) && maybe_live(o->skb))
		tr = bpf_map_lookup_elem(&tracked, &o->skb);
	/* tr is never reassigned below: older verifiers (6.1) lose track of a
	 * map value pointer that is set to NULL on one path and reused. */
	if (tr && tr->last_ts) {
		now = bpf_ktime_get_ns();
		/* a silent old entry, or another packet: the address was reused
		 * (the kernel may free a delivered skb without a tracepoint, and
		 * hand the address to the flow's next) */
		follow = now - tr->last_ts <= track_idle_ns && same_packet(o, &tr->tuple, &nat);
		if (nat) {
			/* NAT rewrote one side of the packet we follow */
			if (!o->late)
				tr->tuple = o->t;
			stat_inc(PL_STAT_NAT_FOLLOW);
		}
		/* Another packet has the address: its entry is unfollowed on
		 * the way out, unless this packet takes it over. */
		if (follow)
			flags |= PL_F_TRACKED;
		else if (!o->late)
			other = true;
	}
	if (!follow && (o->late || !match_tuple(&o->t, o->tflags)))
		goto out;
	/* A new packet is followed only once every hop is attached. One first
	 * seen at its normal free starts no journey: it tells nothing of its
	 * life, which began before pktlife saw it (a drop does tell). */
	if (!follow && (!st || !(*st & PL_STATE_ARMED) || o->hook == PL_HOOK_CONSUME_SKB))
		goto out;
	fill_meta(o, src, ctx, skb, dev);
	/* A followed packet's time was read for its freshness test. */
	if (!follow) {
		if (cfg.match_netns) {
			struct devkey k = {.netns = o->netns, .ifindex = 0};
			if (!bpf_map_lookup_elem(&match_devs, &k))
				goto out;
		}
		if (cfg.match_dev) {
			struct devkey k = {.netns = o->netns, .ifindex = o->ifindex};
			if (!bpf_map_lookup_elem(&match_devs, &k))
				goto out;
		}
		if (!rate_admit(&now, &j)) {
			skip(o, j);
			goto out;
		}
		unskip(o);
		/* a packet first seen at its free: nothing to follow */
		if (!terminal_hook(o->hook)) {
			track(o, tr, st, now);
			other = false; /* the entry at the address is this packet's */
		}
		stat_inc(PL_STAT_MATCHED);
	} else if (tr && !o->late) {
		/* freed: the entry stays, stale, for the address's next packet */
		if (terminal_hook(o->hook))
			unfollow(o, tr);
		else
			tr->last_ts = now;
	}

	emit_obs(o, src, ctx, skb, now, flags);
out:
	if (other && tr)
		unfollow(o, tr);
}

/* ---- tc observers ----------------------------------------------------- */

static __always_inline void observe_tc(struct __sk_buff *ctx, __u8 hook, const enum obs_src src)
{
	struct obs o = {};

	if (hooks_only)
		return;
	o.skb = (__u64)(long)ctx;
	o.hook = hook;
	o.tflags = PL_DEFER;
	if (fast_parse) {
		__u32 proto = ctx->protocol;

		if (proto == bpf_htons(ETH_P_IP) || proto == bpf_htons(ETH_P_IPV6))
			o.tflags = parse_direct(&o.t, ctx, proto);
		else
			o.tflags = proto == bpf_htons(ETH_P_ARP) ? PL_T_NOTIP : 0;
		if (o.tflags == PL_DEFER)
			__builtin_memset(&o.t, 0, sizeof(o.t));
	}
	if (o.tflags == PL_DEFER)
		o.tflags = parse_tc_fast(&o.t, ctx);
	if (o.tflags == 0xff) {
		__builtin_memset(&o.t, 0, sizeof(o.t));
		o.tflags = parse_tc(&o.t, ctx);
	}
	observe(&o, src, ctx, NULL, NULL);
}

/* TC_ACT_UNSPEC (tcx: TCX_NEXT): the device's own programs run next. */
#define PL_CONTINUE -1

SEC("tc")
int pl_tc_ingress(struct __sk_buff *ctx)
{
	observe_tc(ctx, PL_HOOK_TC_INGRESS, OBS_TC);
	return PL_CONTINUE;
}

SEC("tc")
int pl_tc_egress(struct __sk_buff *ctx)
{
	observe_tc(ctx, PL_HOOK_TC_EGRESS, OBS_TC);
	return PL_CONTINUE;
}

/* ---- sockets (cgroup_skb on the root cgroup) -------------------------- */

/* A packet handed to a local socket's receive path (sk_filter), or sent by a
 * local socket. Attached to the cgroup v2 root, these see every socket on
 * the node whatever its namespace. They always allow the packet. */
SEC("cgroup_skb/ingress")
int pl_sock_ingress(struct __sk_buff *ctx)
{
	observe_tc(ctx, PL_HOOK_SOCK_DELIVER, OBS_TC);
	return 1;
}

/* Cgroup egress runs in the sender's process and may be preempted: this
 * one writes each event to the ring directly, for kernels without BPF
 * atomics; pl_sock_egress_cas stages them. */
SEC("cgroup_skb/egress")
int pl_sock_egress(struct __sk_buff *ctx)
{
	observe_tc(ctx, PL_HOOK_SOCK_SEND, OBS_TC);
	return 1;
}

SEC("cgroup_skb/egress")
int pl_sock_egress_cas(struct __sk_buff *ctx)
{
	observe_tc(ctx, PL_HOOK_SOCK_SEND, OBS_TC_CAS);
	return 1;
}

/* ---- tracepoints ------------------------------------------------------ */

/* untrusted makes a tp_btf argument an untrusted BTF pointer, read with
 * the same guarded plain loads. The verifier checks each pointer that a
 * load from a trusted pointer yields (skb->dev, skb->sk) for the types the
 * kernel lets inherit trust, each check a search by name through the
 * kernel's whole BTF (6.5 and later): that made a tp_btf observer's load
 * take ~30 ms where its raw_tp twin takes 3. A pointer walked from an
 * untrusted one is untrusted, and not checked. Only with fast_parse: the
 * kfunc came with 6.2, the checks later. */
#define untrusted(p, type)                                                 \
	(fast_parse && (p) ? (type *)bpf_rdonly_cast((p), bpf_core_type_id_kernel(type)) : (p))

/* observe_kernel observes a kernel skb: with plain loads where it is a BTF
 * pointer (tp_btf), with probe reads where it is only an address. */
static __always_inline void observe_kernel(struct sk_buff *skb, struct net_device *dev,
					   __u8 hook, __u32 reason, const enum obs_src src)
{
	struct obs o = {};

	if (hooks_only || !skb)
		return;
	if (src == OBS_BTF) {
		skb = untrusted(skb, struct sk_buff);
		dev = untrusted(dev, struct net_device);
	}
	o.skb = (__u64)(long)skb;
	o.hook = hook;
	o.reason = reason;
	o.tflags = parse_skb(&o.t, skb, src);
	observe(&o, src, NULL, skb, dev);
}

/* Each tracepoint is built twice from one body: a BTF-enabled program
 * (tp_btf) and a raw tracepoint for kernels without tp_btf. Arguments are
 * read as u64 so that both see the same context. */
#define PL_TP(name, hook, body)                                            \
	static __always_inline void name##_body(__u64 *a, const enum obs_src src) body \
	SEC("tp_btf/" #name) int pl_tp_##name(__u64 *a)                        \
	{                                                                      \
		name##_body(a, OBS_BTF);                                       \
		return 0;                                                      \
	}                                                                      \
	SEC("raw_tp/" #name) int pl_raw_##name(__u64 *a)                       \
	{                                                                      \
		name##_body(a, OBS_RAW);                                       \
		return 0;                                                      \
	}

#define SKB(i) ((struct sk_buff *)(long)a[i])
#define DEV(i) ((struct net_device *)(long)a[i])

PL_TP(netif_rx, PL_HOOK_NETIF_RX,
      { observe_kernel(SKB(0), NULL, PL_HOOK_NETIF_RX, 0, src); })
PL_TP(netif_receive_skb, PL_HOOK_NETIF_RECEIVE_SKB,
      { observe_kernel(SKB(0), NULL, PL_HOOK_NETIF_RECEIVE_SKB, 0, src); })
PL_TP(net_dev_queue, PL_HOOK_NET_DEV_QUEUE,
      { observe_kernel(SKB(0), NULL, PL_HOOK_NET_DEV_QUEUE, 0, src); })
PL_TP(net_dev_start_xmit, PL_HOOK_NET_DEV_START_XMIT,
      { observe_kernel(SKB(0), DEV(1), PL_HOOK_NET_DEV_START_XMIT, 0, src); })
/* kfree_skb's drop reason (third argument) came with 5.17; user space
 * clears this where the tracepoint's BTF shows two arguments only. */
volatile const __u8 tp_kfree_reason = 1;

PL_TP(kfree_skb, PL_HOOK_KFREE_SKB,
      { observe_kernel(SKB(0), NULL, PL_HOOK_KFREE_SKB, tp_kfree_reason ? (__u32)a[2] : 0, src); })
PL_TP(consume_skb, PL_HOOK_CONSUME_SKB,
      { observe_kernel(SKB(0), NULL, PL_HOOK_CONSUME_SKB, 0, src); })

/* event_cpu is the CPU an event is written on. */
static __always_inline __u16 event_cpu(struct stage *st)
{
	return st ? st->cpu : bpf_get_smp_processor_id();
}

/* submit_tracked completes and emits an event about an skb pktlife
 * follows, from hooks that must not read the packet (it may be gone, or
 * belong to the datapath): its tuple is the one last seen. */
static __always_inline void submit_tracked(struct stage *st, struct event *e, struct track *tr)
{
	e->flags = PL_F_TRACKED;
	if (tr->tuple.family)
		e->flags |= PL_F_TUPLE | (tr->tuple.sport || tr->tuple.dport ? PL_F_L4 : 0);
	e->cpu = event_cpu(st);
	e->tuple = tr->tuple;
	emit(st, e);
}

/* net_dev_xmit fires after the driver took the skb, which may already be
 * freed: record only its address, device and return code. */
static __always_inline void net_dev_xmit_body(__u64 *a, const enum obs_src src)
{
	struct net_device *dev = DEV(2);
	__u64 skb = a[0];
	struct track *tr;

	if (hooks_only)
		return;
	tr = followed(skb);
	if (!tr)
		return; /* not followed, or freed already */
	struct event spare;
	struct stage *st = stage_take();
	struct event *e = stage_slot(st, &spare);

	__builtin_memset(e, 0, sizeof(*e));
	e->ts = bpf_ktime_get_ns();
	e->skb = skb;
	if (src == OBS_BTF) {
		dev = untrusted(dev, struct net_device);
		e->ifindex = dev->ifindex;
		e->netns = dev->nd_net.net->ns.inum;
	} else {
		e->ifindex = BPF_CORE_READ(dev, ifindex);
		e->netns = dev_netns(dev);
	}
	e->len = (__u32)a[3];
	e->reason = (__u32)a[1];
	e->hook = PL_HOOK_NET_DEV_XMIT;
	submit_tracked(st, e, tr);
}

SEC("tp_btf/net_dev_xmit")
int pl_tp_net_dev_xmit(__u64 *a)
{
	net_dev_xmit_body(a, OBS_BTF);
	return 0;
}

SEC("raw_tp/net_dev_xmit")
int pl_raw_net_dev_xmit(__u64 *a)
{
	net_dev_xmit_body(a, OBS_RAW);
	return 0;
}

/* ---- tail-call shim (--tail-calls=interpose) -------------------------- */

/* pl_tail_shim takes the place of one program in one prog_array slot of the
 * traced datapath. It is loaded once per slot, with these settings, and
 * with pl_shadow replaced by a prog_array pktlife owns that holds the
 * original program at the same slot. */
volatile const __u32 shim_map_id = 0;  /* the datapath's prog_array */
volatile const __u32 shim_slot = 0;    /* the slot this shim sits in */
volatile const __u32 shim_prog_id = 0; /* the original program in that slot */

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1); /* set on the spec: the original's max_entries */
	__type(key, __u32);
	__type(value, __u32);
} pl_shadow SEC(".maps");

/* shim_emit records the jump for an skb pktlife follows: its metadata, its
 * cb[] words and its headers' tuple. It only reads; it never changes the
 * packet. */
static __always_inline void shim_emit(struct __sk_buff *ctx)
{
	struct sk_buff *skb = (struct sk_buff *)ctx;
	__u64 addr = (__u64)(long)ctx;
	struct track *tr = followed(addr);
	__u64 now;

	if (!tr)
		return;
	now = bpf_ktime_get_ns();
	if (now - tr->last_ts > track_idle_ns)
		return;
	tr->last_ts = now;

	struct event spare;
	struct stage *st = stage_take();
	struct event *e = stage_slot(st, &spare);

	__builtin_memset(e, 0, sizeof(*e));
	e->ts = now;
	e->skb = addr;
	e->ifindex = ctx->ifindex;
	e->netns = dev_netns(BPF_CORE_READ(skb, dev));
	e->len = ctx->len;
	e->mark = ctx->mark;
	e->prog_id = shim_prog_id;
	e->map_id = shim_map_id;
	e->slot = shim_slot;
	e->hook = PL_HOOK_TAIL_CALL;
	e->cb[0] = ctx->cb[0];
	e->cb[1] = ctx->cb[1];
	e->cb[2] = ctx->cb[2];
	e->cb[3] = ctx->cb[3];
	e->cb[4] = ctx->cb[4];
	/* The tuple as the programs before this jump left it, so that a NAT
	 * is seen at the program that did it. Headers are only read. */
	__u8 f = parse_tc_fast(&e->tuple, ctx);
	if (f == 0xff)
		f = parse_tc(&e->tuple, ctx);
	if (!(f & PL_F_TUPLE)) {
		submit_tracked(st, e, tr);
		return;
	}
	e->flags = PL_F_TRACKED | (f & (PL_F_TUPLE | PL_F_L4));
	e->cpu = event_cpu(st);
	emit(st, e);
}

SEC("tc")
int pl_tail_shim(struct __sk_buff *ctx)
{
	shim_emit(ctx);
	bpf_tail_call(ctx, &pl_shadow, shim_slot);
	/* The jump failed: the packet's tail-call budget (MAX_TAIL_CALL_CNT) is
	 * spent, the shim counting as one, or the shadow slot is empty. A shim
	 * cannot fall through into its caller as an empty slot would, so it
	 * returns the most neutral verdict there is: TC_ACT_UNSPEC (tcx:
	 * TCX_NEXT) lets the hook's next program decide, and the packet goes on
	 * when none does. It is counted so that pktlife can report it. */
	stat_inc(PL_STAT_SHIM_MISS);
	return PL_CONTINUE;
}

/* ---- kernel functions (fentry/fexit, kprobe) -------------------------- */

/* fentry and fexit programs are loaded once per kernel function, so their
 * settings are constants set before each load: which argument holds the skb
 * (1-based), whether it is a struct sk_buff ** (rx handlers), how many
 * arguments the function has (fexit's return value follows them) and the
 * hop's id in pktlife's catalog. */
volatile const __u32 kf_hop = 0;
volatile const __u32 kf_arg = 1;
volatile const __u32 kf_deref = 0;
volatile const __u32 kf_nargs = 1;
/* The same programs on a tc BPF program (passive tail-call mode) report
 * program entry and exit instead, with the program's id. */
volatile const __u32 kf_entry_hook = PL_HOOK_KFUNC;
volatile const __u32 kf_exit_hook = PL_HOOK_KFUNC_RET;
volatile const __u32 kf_prog = 0;

/* Set by user space where a feature probe finds no bpf_get_func_arg and
 * bpf_get_func_ret (kernels before 5.17): the trampoline's argument slots
 * are then read with bpf_probe_read_kernel at a constant offset from the
 * context. */
volatile const __u8 kf_no_func_arg = 0;

/* kf_arg_value reads argument n (1-based) with bpf_get_func_arg, which,
 * unlike a direct ctx load, the verifier allows for any argument type
 * (struct sk_buff ** included). */
static __always_inline __u64 kf_arg_value(__u64 *ctx, __u32 n)
{
	__u64 v = 0;

	if (kf_no_func_arg)
		bpf_probe_read_kernel(&v, sizeof(v), ctx + (n - 1));
	else
		bpf_get_func_arg(ctx, n - 1, &v);
	return v;
}

/* kf_ret_value reads the traced function's return value in fexit. */
static __always_inline __u64 kf_ret_value(__u64 *ctx)
{
	__u64 v = 0;

	if (kf_no_func_arg)
		bpf_probe_read_kernel(&v, sizeof(v), ctx + kf_nargs);
	else
		bpf_get_func_ret(ctx, &v);
	return v;
}

static __always_inline struct sk_buff *kf_skb(__u64 raw, bool deref)
{
	struct sk_buff *skb = NULL;

	if (!deref)
		return (struct sk_buff *)(long)raw;
	bpf_probe_read_kernel(&skb, sizeof(skb), (void *)(long)raw);
	return skb;
}

static __always_inline void observe_kfunc(struct sk_buff *skb, __u32 hop, __u8 hook, __u32 ret,
					   bool late)
{
	struct obs o = {};

	if (!skb)
		return;
	o.skb = (__u64)(long)skb;
	o.hook = hook;
	o.late = late;
	o.slot = hop;
	o.prog_id = kf_prog;
	o.reason = ret;
	o.tflags = parse_skb(&o.t, skb, OBS_RAW);
	observe(&o, OBS_RAW, NULL, skb, NULL);
}

SEC("fentry/ip_rcv")
int pl_fentry(__u64 *ctx)
{
	observe_kfunc(kf_skb(kf_arg_value(ctx, kf_arg), kf_deref), kf_hop, kf_entry_hook, 0, false);
	return 0;
}

/* At return the skb may be gone: fexit only reports skbs already followed
 * (observe looks them up first), reads nothing it would match on and
 * changes nothing pktlife knows of them (late, in observe). */
SEC("fexit/ip_rcv")
int pl_fexit(__u64 *ctx)
{
	__u64 ret = 0;
	__u64 skb = (__u64)(long)kf_skb(kf_arg_value(ctx, kf_arg), kf_deref);

	if (!skb || !followed(skb))
		return 0;
	ret = kf_ret_value(ctx);
	observe_kfunc((struct sk_buff *)(long)skb, kf_hop, kf_exit_hook, (__u32)ret, true);
	return 0;
}

/* Set where the kernel has no bpf_get_attach_cookie (before 5.15): each
 * kprobe program is then loaded per hop, with the hop id in kf_hop. */
volatile const __u8 kp_no_cookie = 0;

static __always_inline __u32 kp_hop(struct pt_regs *ctx)
{
	return kp_no_cookie ? kf_hop : (__u32)bpf_get_attach_cookie(ctx);
}

/* kprobes are loaded once and attached to many functions; the hop id comes
 * from the attach cookie, the skb's argument from which program is used. */
#define PL_KPROBE(n, deref)                                                  \
	SEC("kprobe/ip_rcv")                                                 \
	int pl_kprobe_##n##_##deref(struct pt_regs *ctx)                     \
	{                                                                    \
		__u64 raw = PT_REGS_PARM##n(ctx);                            \
		observe_kfunc(kf_skb(raw, deref), kp_hop(ctx),                \
			      PL_HOOK_KFUNC, 0, false);                      \
		return 0;                                                    \
	}

PL_KPROBE(1, 0)
PL_KPROBE(2, 0)
PL_KPROBE(3, 0)
PL_KPROBE(4, 0)
PL_KPROBE(1, 1)
