package trace

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// nsHandle is a network namespace pktlife attaches in.
type nsHandle struct {
	path  string // "" for the namespace pktlife started in
	name  string // for people: a /run/netns name, "host" or the path
	inode uint32
	fd    netns.NsHandle
	nl    *netlink.Handle
}

// ErrNetnsNotFound is returned for a namespace path that does not exist.
var ErrNetnsNotFound = errors.New("network namespace not found")

// openNetns opens the namespace at path ("" = the current one).
func openNetns(path string) (_ *nsHandle, err error) {
	var fd netns.NsHandle
	if path == "" {
		fd, err = netns.Get()
	} else {
		if name := filepath.Base(path); !strings.Contains(path, "/") {
			path = filepath.Join("/run/netns", name)
		}
		if _, serr := os.Stat(path); serr != nil {
			return nil, fmt.Errorf("open netns %s: %w", path, ErrNetnsNotFound)
		}
		fd, err = netns.GetFromPath(path)
	}
	if err != nil {
		return nil, fmt.Errorf("open netns %q: %w", path, err)
	}
	return nsFromFD(fd, path, "")
}

// newPrivateNetns creates a network namespace that lives as long as the
// handle does (nothing pins it), named name for people.
func newPrivateNetns(name string) (*nsHandle, error) {
	fd := netns.None()
	err := onThread(func() (err error) {
		fd, err = netns.New() // moves this thread into it; onThread moves it back
		return err
	})
	if err != nil {
		if fd.IsOpen() {
			fd.Close()
		}
		return nil, fmt.Errorf("create %s netns: %w", name, err)
	}
	return nsFromFD(fd, "", name)
}

// nsFromFD makes a handle of an open namespace fd, which it takes over; an
// empty name is derived from path.
func nsFromFD(fd netns.NsHandle, path, name string) (_ *nsHandle, err error) {
	defer func() {
		if err != nil {
			fd.Close()
		}
	}()
	var st unix.Stat_t
	if err := unix.Fstat(int(fd), &st); err != nil {
		return nil, fmt.Errorf("stat netns %q: %w", path, err)
	}
	nl, err := netlink.NewHandleAt(fd, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("open netlink in netns %q: %w", path, err)
	}
	if name == "" {
		name = netnsDisplayName(path, uint32(st.Ino))
	}
	return &nsHandle{path: path, name: name, inode: uint32(st.Ino), fd: fd, nl: nl}, nil
}

func (n *nsHandle) Close() {
	if n.nl != nil {
		n.nl.Close()
		n.nl = nil
	}
	if n.fd.IsOpen() {
		n.fd.Close()
	}
}

// do runs fn on an OS thread inside the namespace. Some kernel interfaces
// (tcx attach by ifindex, for one) resolve against the caller's namespace.
func (n *nsHandle) do(fn func() error) error {
	return onThread(func() error {
		if err := netns.Set(n.fd); err != nil {
			return fmt.Errorf("enter netns %s: %w", n.name, err)
		}
		return fn()
	})
}

// onThread runs fn, which may move its thread into another network
// namespace, on a locked OS thread, and moves the thread back afterwards.
// It is pktlife's one way of running code in a namespace: a thread that
// cannot be moved back stays locked, and dies with its goroutine instead
// of running other goroutines in the wrong namespace.
func onThread(fn func() error) error {
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("get current netns: %w", err)
	}
	defer orig.Close()
	ferr := fn()
	if err := netns.Set(orig); err != nil {
		return errors.Join(ferr, fmt.Errorf("return to netns: %w", err))
	}
	runtime.UnlockOSThread()
	return ferr
}

// netnsDisplayName names a namespace for people.
func netnsDisplayName(path string, inode uint32) string {
	if path != "" {
		if strings.HasPrefix(path, "/run/netns/") || strings.HasPrefix(path, "/var/run/netns/") {
			return filepath.Base(path)
		}
		return path
	}
	if inode == hostNetnsInode() {
		return "host"
	}
	return fmt.Sprintf("netns:%d", inode)
}

// hostNetnsInode returns the inode of the node's network namespace, or 0:
// init's, or where init cannot be read (a sandbox, a node pod's PID 1 of
// another owner) that of the kernel thread daemon, which always lives in
// the initial one.
func hostNetnsInode() uint32 {
	for _, p := range []string{"/proc/1/ns/net", "/proc/2/ns/net"} {
		var st unix.Stat_t
		if err := unix.Stat(p, &st); err == nil {
			return uint32(st.Ino)
		}
	}
	return 0
}
