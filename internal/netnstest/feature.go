package netnstest

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// SkipIfNotSupported skips the test when err wraps ebpf.ErrNotSupported
// and the running kernel is older than minVersion ("6.6"), the first one
// with the feature; on that kernel or a later one it fails the test: a
// feature the kernel should have that does not work is a bug to see, not a
// skip to overlook. Other errors are left to the caller.
func SkipIfNotSupported(t testing.TB, err error, minVersion string) {
	t.Helper()
	if !errors.Is(err, ebpf.ErrNotSupported) {
		return
	}
	running, verr := KernelVersion()
	if verr != nil {
		t.Fatalf("%v (and the kernel's version is unknown: %v)", err, verr)
	}
	minimum, verr := parseVersion(minVersion)
	if verr != nil {
		t.Fatalf("bad minimum version %q: %v", minVersion, verr)
	}
	if running.Less(minimum) {
		t.Skipf("not supported by kernel %s (needs %s): %v", running, minVersion, err)
	}
	t.Fatalf("not supported, but kernel %s should have it (since %s): %v", running, minVersion, err)
}

// Version is a kernel's major.minor.patch.
type Version [3]int

func (v Version) String() string { return fmt.Sprintf("%d.%d.%d", v[0], v[1], v[2]) }

// Less reports whether v is older than w.
func (v Version) Less(w Version) bool {
	for i := range v {
		if v[i] != w[i] {
			return v[i] < w[i]
		}
	}
	return false
}

// KernelVersion returns the running kernel's version, from uname.
func KernelVersion() (Version, error) {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return Version{}, fmt.Errorf("uname: %w", err)
	}
	return parseVersion(unix.ByteSliceToString(u.Release[:]))
}

// parseVersion reads "6.12.107-amd64" or "6.6" into a Version.
func parseVersion(s string) (Version, error) {
	var v Version
	s, _, _ = strings.Cut(s, "-")
	parts := strings.SplitN(s, ".", 3)
	for i, p := range parts {
		// The leading digits: "118+deb12" is 118.
		if end := strings.IndexFunc(p, func(r rune) bool { return r < '0' || r > '9' }); end >= 0 {
			p = p[:end]
		}
		n, err := strconv.Atoi(p)
		if err != nil {
			return Version{}, fmt.Errorf("parse kernel version %q: %w", s, err)
		}
		v[i] = n
	}
	return v, nil
}
