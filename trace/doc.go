// Package trace is pktlife's engine on the kernel side: it loads the BPF
// observers, attaches them to tc hooks and tracepoints, reads their events
// from one ring buffer per CPU, merges them by time, decodes them and feeds
// the correlator in trace/journey.
// Data flows one way: kernel → reader → decoder → correlator → the caller's
// emit function. Nothing here knows about the command line or the terminal.
package trace
