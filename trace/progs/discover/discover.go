//go:build linux

package discover

import (
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"runtime"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/pktlife/pktlife/trace/progs"
)

// Options selects what Graph looks at.
type Options struct {
	// Netns is the path of a network namespace (/run/netns/NAME,
	// /proc/PID/ns/net); empty means the calling thread's own.
	Netns string
	// Ifaces are shell globs (path.Match) of device names; empty means all.
	Ifaces []string
	// SkipProgIDs are attached programs to leave out, such as pktlife's own
	// observers. Only entries are skipped: a program in a prog_array slot is
	// always shown.
	SkipProgIDs map[uint32]bool
	// IncludeEmpty keeps devices that have no tc program at all.
	IncludeEmpty bool
}

// rawEntry is an attached program before its graph is walked.
type rawEntry struct {
	progs.Entry
	progID uint32
}

// rawDevice is one device's hooks as queried inside its namespace.
type rawDevice struct {
	progs.DeviceProgs
	ingress, egress []rawEntry
}

// Graph finds the tc programs of the devices Options selects and walks
// their tail-call graphs. It changes nothing in the kernel.
func Graph(ctx context.Context, opts Options) (*progs.Graph, error) {
	for _, glob := range opts.Ifaces {
		if _, err := path.Match(glob, ""); err != nil {
			return nil, fmt.Errorf("parse interface glob %q: %w", glob, err)
		}
	}
	devs, err := inNetns(opts.Netns, func() ([]rawDevice, error) { return queryDevices(opts) })
	if err != nil {
		return nil, err
	}
	w := newWalker(ctx)
	g := &progs.Graph{Devices: []progs.DeviceProgs{}}
	for _, rd := range devs {
		d := rd.DeviceProgs
		if d.Ingress, err = w.entries(rd.ingress, opts.SkipProgIDs); err != nil {
			return nil, err
		}
		if d.Egress, err = w.entries(rd.egress, opts.SkipProgIDs); err != nil {
			return nil, err
		}
		if len(d.Ingress)+len(d.Egress) == 0 && !opts.IncludeEmpty {
			continue
		}
		g.Devices = append(g.Devices, d)
	}
	g.Unreached = w.unreached()
	return g, nil
}

func (w *walker) entries(raw []rawEntry, skip map[uint32]bool) ([]progs.Entry, error) {
	entries := []progs.Entry{}
	for _, re := range raw {
		if skip[re.progID] {
			continue
		}
		n, err := w.node(re.progID)
		if err != nil {
			return nil, err
		}
		e := re.Entry
		e.Prog = n
		entries = append(entries, e)
	}
	return entries, nil
}

// inNetns runs fn on an OS thread that has entered the namespace at nsPath,
// or, when nsPath is empty, the namespace of the calling thread (which is
// the process's unless the caller locked its thread into another). The
// thread is never unlocked, so the Go runtime discards it when fn returns:
// no other goroutine can ever run in the wrong namespace.
func inNetns[T any](nsPath string, fn func() (T, error)) (T, error) {
	var zero T
	var ns netns.NsHandle
	var err error
	if nsPath == "" {
		ns, err = netns.Get()
	} else {
		ns, err = netns.GetFromPath(nsPath)
	}
	if err != nil {
		return zero, fmt.Errorf("open netns %q: %w", nsPath, err)
	}
	defer ns.Close()

	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		if err := netns.Set(ns); err != nil {
			done <- result{err: fmt.Errorf("enter netns %q: %w", nsPath, err)}
			return
		}
		v, err := fn()
		done <- result{v, err}
	}()
	r := <-done
	return r.v, r.err
}

// queryDevices lists the selected devices of the current thread's
// namespace and the programs at their tc hooks.
func queryDevices(opts Options) ([]rawDevice, error) {
	ino, name, err := netnsIdentity(opts.Netns)
	if err != nil {
		return nil, err
	}
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("open netlink: %w", err)
	}
	defer h.Close()
	links, err := h.LinkList()
	if err != nil {
		return nil, fmt.Errorf("list devices: %w", err)
	}
	var devs []rawDevice
	for _, l := range links {
		a := l.Attrs()
		if !selected(a.Name, opts.Ifaces) {
			continue
		}
		d := rawDevice{DeviceProgs: progs.DeviceProgs{
			Netns: ino, NetnsName: name, Ifindex: uint32(a.Index), Name: a.Name,
		}}
		if err := d.queryTCX(); err != nil {
			return nil, err
		}
		if err := d.queryTC(h, l); err != nil {
			return nil, err
		}
		devs = append(devs, d)
	}
	return devs, nil
}

func selected(name string, globs []string) bool {
	if len(globs) == 0 {
		return true
	}
	for _, g := range globs {
		if ok, _ := path.Match(g, name); ok {
			return true
		}
	}
	return false
}

// netnsIdentity is the inode of the current thread's network namespace and
// a name for it: its /run/netns name, "host" for the initial namespace, or
// else the path it was opened by.
func netnsIdentity(nsPath string) (uint32, string, error) {
	var st unix.Stat_t
	if err := unix.Stat("/proc/thread-self/ns/net", &st); err != nil {
		return 0, "", fmt.Errorf("stat netns: %w", err)
	}
	ino := uint32(st.Ino)
	for _, dir := range []string{"/run/netns", "/var/run/netns"} {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			var est unix.Stat_t
			if unix.Stat(filepath.Join(dir, e.Name()), &est) == nil && est.Ino == st.Ino && est.Dev == st.Dev {
				return ino, e.Name(), nil
			}
		}
	}
	var init unix.Stat_t
	if unix.Stat("/proc/1/ns/net", &init) == nil && init.Ino == st.Ino && init.Dev == st.Dev {
		return ino, "host", nil
	}
	return ino, nsPath, nil
}
