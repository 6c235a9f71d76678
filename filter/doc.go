// Package filter parses packet filter expressions in tcpdump's syntax
// (pcap-filter(7)) and compiles them, in pure Go, into a small program of
// tests with forward jumps that pktlife's BPF programs run on each packet's
// addresses, ports and protocol. It understands the part of the syntax
// about IP, ICMP, TCP, UDP and SCTP; what the in-kernel filter cannot test
// exactly (link-layer primitives, packet byte offsets, lengths, host names)
// is refused with a one-line error. Eval runs a program in Go with the
// kernel's semantics, for tests and for user-space finishing.
package filter
