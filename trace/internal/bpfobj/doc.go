// Package bpfobj answers questions about kernel BPF objects: their ids,
// and programs' full names by id. The tracer's resolver and tail-call
// tracing share it.
package bpfobj
