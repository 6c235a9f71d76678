// Package progs is the model of what runs at the tc hooks of network
// devices: each attached program (tcx link or legacy clsact cls_bpf filter)
// and the tail-call graph behind it, prog_array by prog_array and slot by
// slot, with questions a graph answers (every program, every reachable
// slot, the longest chain).
//
// It is plain data with no kernel access, so renderers and the kubectl
// plugin can read a graph without linking eBPF or netlink libraries; the
// discover package builds one from the running kernel.
package progs
