// Package vmtest is for tests that must run inside pktlife's QEMU VM (see
// docs/vm.md): kprobes, fentry/fexit, bonding, ipvlan and whatever else this
// machine's kernel lacks. Such tests start with
//
//	release := vmtest.Require(t)
//
// and are run with `make test-vm` (vmexec as go test's -exec program).
package vmtest

import (
	"os"
	"testing"
)

// Env is the variable vmexec sets inside the VM to the kernel's release
// (uname -r), e.g. "6.12.117+deb12-amd64".
const Env = "PKTLIFE_VM"

// Release is the VM kernel's release, or "" outside the VM.
func Release() string { return os.Getenv(Env) }

// Require skips the test unless it runs inside the VM, and returns the
// kernel's release.
func Require(tb testing.TB) string {
	tb.Helper()
	r := Release()
	if r == "" {
		tb.Skipf("needs the pktlife VM (%s unset): run with `make test-vm` or go test -exec vmexec, see docs/vm.md", Env)
	}
	return r
}
