// Package tailcall traces the BPF tail calls a packet makes inside a tc
// hop, in one of two ways that each attach and then annotate journeys:
// Interposer puts shims into the datapath's prog_array slots (exact
// per-packet chains; trace/shimstate keeps the shadows, the restore journal
// and the lock in the node's bpffs, so the slots are restored after a
// crash),
// Passive attaches fentry/fexit to entry programs and infers the chain
// from the program graph. Start picks one by Mode.
package tailcall
