// Package bench measures what pktlife costs: the packet rate of a UDP flood
// through the demo node untraced and traced, the in-kernel run time of each
// pktlife program from the kernel's own BPF statistics, the user-space
// pipeline's events per second, loss accounting under overload, attach and
// detach time, and memory with many journeys in flight. plbench (make bench)
// runs it all and prints each figure against its target.
package bench
