package main

// exprHelp is `pktlife trace --help`'s summary of filter expressions
// (docs/filter.md says it in full).
const exprHelp = `The expression selects packets in tcpdump's syntax (pcap-filter), by IP
addresses, ports and protocol; its words may be one argument or several:
  host A | net A/len | net A mask M | port N | portrange N-M | proto N
  qualified by src, dst, src or dst, src and dst, and by ip, ip6, tcp, udp,
  sctp; alone: ip ip6 tcp udp sctp icmp icmp6;
  tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn (=, ==, !=; IPv4, as tcpdump)
  combined with and/&&, or/||, not/!, ( ); and and or bind equally, from the
  left. A bare value takes the previous qualifiers: port 53 or 80.
It is compiled into the in-kernel filter (at most 16 primitives); what that
cannot test (ether, arp, vlan, less, greater, ip[...], host names) is
refused. Flags and expression must both match; --reply applies to both.`
