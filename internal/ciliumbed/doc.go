// Package ciliumbed is a test bed of Cilium's own datapath: it downloads
// Cilium's sources as the Go module github.com/cilium/cilium (its module zip
// holds bpf/), compiles bpf_lxc.c with clang-19 in Cilium's compile-test
// configuration (the node_config.h and ep_config.h shipped in bpf/), caches
// the object, and loads and attaches it the way cilium-agent does. Nothing
// of Cilium's is committed: tests fetch it at run time.
package ciliumbed
