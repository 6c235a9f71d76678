// Package filter parses packet filter expressions in tcpdump's syntax
// (pcap-filter(7)) and compiles them, in pure Go, into a small program of
// tests with forward jumps that pktlife's BPF programs run on each packet's
// addresses, ports, protocol and TCP flags. It understands the part of the
// syntax about IP, ICMP, TCP, UDP and SCTP; what the in-kernel filter
// cannot test exactly (link-layer primitives, packet byte offsets other
// than tcp[tcpflags], lengths, host names) is refused with a one-line
// error. Program.Match runs a program in Go with the kernel's semantics.
package filter
