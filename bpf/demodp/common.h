/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Includes and the small packet parser shared by demo.c and chain.c. Only
 * IPv4 is handled: the demo topology has no IPv6. */
#ifndef DEMODP_COMMON_H
#define DEMODP_COMMON_H

#include <stddef.h>
#include <linux/types.h>
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

/* What the programs need to know about a packet. Addresses and ports stay
 * in network byte order, as on the wire. */
struct pkt {
	__be32 saddr;
	__be32 daddr;
	__be16 sport; /* 0 unless has_ports */
	__be16 dport;
	__u32 l4off;  /* offset of the transport header from skb->data */
	__u8 proto;
	__u8 has_ports;
};

/* parse_ipv4 fills p from an Ethernet-framed IPv4 packet and returns 0, or
 * returns -1 for anything else. Ports are read for TCP and UDP first
 * fragments only. */
static __always_inline int parse_ipv4(struct __sk_buff *skb, struct pkt *p)
{
	struct iphdr ip;
	__be16 ports[2];

	if (skb->protocol != bpf_htons(ETH_P_IP))
		return -1;
	if (bpf_skb_load_bytes(skb, ETH_HLEN, &ip, sizeof(ip)))
		return -1;
	if (ip.version != 4 || ip.ihl < 5)
		return -1;
	p->saddr = ip.saddr;
	p->daddr = ip.daddr;
	p->proto = ip.protocol;
	p->l4off = ETH_HLEN + ip.ihl * 4;
	p->sport = 0;
	p->dport = 0;
	p->has_ports = 0;
	if (ip.protocol != IPPROTO_TCP && ip.protocol != IPPROTO_UDP)
		return 0;
	if (ip.frag_off & bpf_htons(0x1fff))
		return 0; /* a later fragment: no transport header */
	if (bpf_skb_load_bytes(skb, p->l4off, ports, sizeof(ports)))
		return 0;
	p->sport = ports[0];
	p->dport = ports[1];
	p->has_ports = 1;
	return 0;
}

#endif
