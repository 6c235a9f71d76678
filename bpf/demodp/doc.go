// Package demodp holds pktlife's own small tc datapaths, in C, and the Go
// bindings bpf2go generates from them. demo.c is a Cilium-like datapath
// (service DNAT, a deny-port policy and reverse NAT, joined by tail calls and
// bpf_redirect_neigh) for `pktlife demo` and the kernel tests; chain.c is a
// tail-call test datapath with two prog_arrays, empty slots and a shared
// program. demodp.h defines everything that crosses to Go. The generated
// objects are committed so that building needs no C compiler.
package demodp
