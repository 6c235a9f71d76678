// Package nodens finds the node's mount namespace from the one pktlife
// runs in: ip netns exec, unshare -m and containers give a process a
// private one, in which the node's bpffs, cgroup v2 hierarchy and
// /run/netns may be missing or be private copies.
package nodens

import (
	"fmt"
	"os"
	"path/filepath"
)

// initPIDNS is the initial PID namespace, whose inode number is fixed.
const initPIDNS = "pid:[4026531836]"

// View is how this process reaches the node's mount namespace.
type View struct {
	// Root is the prefix to the node's root ("/proc/N/root"); "" when this
	// process's root is the node's, or the node cannot be reached.
	Root string
	// Proc is "/proc/N" of a process in the node's mount namespace, whose
	// mountinfo lists the node's mounts; "/proc/self" where Root is "".
	Proc string
	// InNode is set when this process runs in the node's mount namespace,
	// where what it mounts stays after it exits.
	InNode bool
	// Container is set outside the node's PID namespace: the node cannot
	// be reached, and only what the container was given is seen.
	Container bool
}

// Path is path in the node's mount namespace as this process reaches it.
func (v View) Path(path string) string { return v.Root + path }

// Get finds the node's mount namespace. In the node's PID namespace, PID 1
// and the kernel thread daemon (PID 2, whose root is the kernel's own)
// live in it; the first of them whose namespace can be read is taken.
func Get() View {
	self := View{Proc: "/proc/self", Container: true}
	if ns, _ := os.Readlink("/proc/self/ns/pid"); ns != initPIDNS {
		return self
	}
	mine, err := os.Readlink("/proc/self/ns/mnt")
	if err != nil {
		return self
	}
	for _, pid := range []int{1, 2} {
		proc := fmt.Sprintf("/proc/%d", pid)
		mnt, err := os.Readlink(proc + "/ns/mnt")
		if err != nil {
			continue
		}
		if mnt == mine {
			return View{Proc: "/proc/self", InNode: true}
		}
		if _, err := os.Stat(filepath.Join(proc, "root", "proc")); err == nil {
			return View{Root: proc + "/root", Proc: proc}
		}
	}
	return self
}
