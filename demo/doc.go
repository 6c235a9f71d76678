// Package demo builds a small Kubernetes-like node out of network
// namespaces and loads pktlife's own tc datapaths onto it: pod A and pod B
// joined to a node by veth pairs, a Cilium-like datapath that DNATs a
// service VIP to pod B with tail calls and bpf_redirect_neigh, and a
// tail-call chain datapath for tests. `pktlife demo`, the kernel tests and
// CI use it to make real packets whose lives the tracer can show.
//
// Everything runs in namespaces the package creates under /run/netns with a
// random suffix; nothing touches the host's own namespace. All of it needs
// root.
package demo
