// Package discover reads, without changing anything, the BPF programs
// attached at the tc hooks of network devices (tcx links and legacy clsact
// cls_bpf filters) and the tail-call graph behind them: every
// BPF_MAP_TYPE_PROG_ARRAY those programs jump through, slot by slot, with
// full program names from BTF. The result is a progs.Graph.
//
// Discovery changes nothing. It opens prog_array maps by ID only to read
// their slots, and closes them before returning. Closing such an fd cannot
// empty a map its owner still uses: a prog_array is cleared when its last
// user reference (fd or pin) goes away, and the owner's references stay.
//
// Which slots a program can reach is read from its translated instructions:
// a bpf_tail_call whose map and index are constants reaches exactly that slot
// (filled or empty); one whose index is computed at run time may reach every
// filled slot of the map, and is marked Dynamic.
package discover
