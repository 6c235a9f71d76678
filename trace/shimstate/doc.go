// Package shimstate keeps what tail-call interposition must leave behind
// when pktlife dies: the shadow prog_arrays its shims jump through, the
// journal of the slots it swapped, and the lock and owner record that keep
// two pktlife processes apart. All of it lives in one directory of a bpffs
// in the node's mount namespace, reached from whatever mount namespace
// pktlife runs in, so that it outlives the process and every pktlife and
// `pktlife cleanup` on the node sees the same state.
package shimstate
