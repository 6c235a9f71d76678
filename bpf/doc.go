// Package bpf holds pktlife's BPF C sources and the Go bindings bpf2go
// generates from them. pktlife.h defines every struct that crosses between
// the kernel and Go; the generated objects are committed so that building
// pktlife needs no C compiler (`make generate` rebuilds them).
package bpf
