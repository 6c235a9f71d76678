// Package filtertest holds what the filter's tests share with the kernel's:
// a corpus of expressions, generated packets, their Ethernet frames, and a
// small pcap writer for comparing with tcpdump.
package filtertest
