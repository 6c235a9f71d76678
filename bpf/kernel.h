/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The few kernel types pktlife's BPF programs read, as CO-RE definitions:
 * only the fields used, relocated against the running kernel's BTF at load
 * time. Wire formats (IP headers) come from the UAPI headers. */
#ifndef PKTLIFE_KERNEL_H
#define PKTLIFE_KERNEL_H

#include <linux/types.h>
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <asm/ptrace.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

#ifndef bool
#define bool _Bool
#define true 1
#define false 0
#endif

struct ns_common {
	unsigned int inum;
} __attribute__((preserve_access_index));

struct net {
	struct ns_common ns;
} __attribute__((preserve_access_index));

typedef struct {
	struct net *net;
} possible_net_t;

struct net_device {
	int ifindex;
	possible_net_t nd_net;
} __attribute__((preserve_access_index));

struct sock_common {
	possible_net_t skc_net;
} __attribute__((preserve_access_index));

struct sock {
	struct sock_common __sk_common;
} __attribute__((preserve_access_index));

struct sk_buff {
	struct sock *sk;
	unsigned int len;
	__u32 mark;
	__u16 network_header;
	__be16 protocol;
	unsigned char *head;
	unsigned char *data;
	__u32 tail; /* sk_buff_data_t: an offset from head on 64-bit */
	struct net_device *dev;
} __attribute__((preserve_access_index));

#endif
