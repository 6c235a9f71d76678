// Package vm runs Go test binaries inside QEMU on Debian's own kernels, for
// the features this machine's kernel refuses (kprobes, fentry/fexit, bonding,
// ipvlan). It fetches a kernel package with apt, builds a small initramfs
// (busybox, iproute2, the needed modules, the test binary), boots it with TCG
// and hands back the test's output and exit status. cmd vmexec wraps it as a
// `go test -exec` program; package vmtest is what tests inside the VM use.
package vm
