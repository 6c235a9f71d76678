// Package trace is pktlife's engine on the kernel side: its backends load
// the BPF observers and attach them (one file per attach kind), its reader
// reads their events from one ring buffer per CPU, merges them by time and
// decodes them, and trace/journey correlates and annotates them into
// journeys for the caller's emit function. Tail calls are traced by
// trace/tailcall. Data flows one way (docs/architecture.md). Nothing here
// knows about the command line or the terminal.
package trace
