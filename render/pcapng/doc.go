// Package pcapng writes the pcapng capture format (the IETF draft
// draft-ietf-opsawg-pcapng) that Wireshark and tshark read: one section
// header, interface description blocks with a name and a description, and
// enhanced packet blocks with nanosecond timestamps and a comment each. It
// knows nothing about journeys; render.Pcap turns journeys into its
// interfaces and packets.
package pcapng
