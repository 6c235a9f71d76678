package trace

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// netns finds a handle for a namespace inode. Namespaces not yet known are
// looked up among /run/netns and processes' namespaces, scanned at most
// once a second; a scan remembers every namespace it saw, so that the
// namespaces of one burst of events are all found by one scan.
func (n *names) netns(inode uint32) *nsHandle {
	if inode == 0 {
		return nil
	}
	if h, ok := n.ns[inode]; ok {
		return h
	}
	p, ok := n.seen[inode]
	if !ok && time.Since(n.lastScan) >= time.Second {
		n.lastScan = time.Now()
		n.scan()
		p, ok = n.seen[inode]
	}
	if !ok {
		return nil
	}
	h, err := openNetns(p)
	if err != nil {
		delete(n.seen, inode)
		return nil
	}
	if strings.HasPrefix(p, "/proc/") {
		h.name = procNetnsName(p, inode)
	}
	n.ns[inode] = h
	n.owned[inode] = true
	n.label(h)
	return h
}

// scan records the inode of every namespace under /run/netns and of every
// process, the named ones first.
func (n *names) scan() {
	var cands []string
	if ents, err := os.ReadDir("/run/netns"); err == nil {
		for _, e := range ents {
			cands = append(cands, filepath.Join("/run/netns", e.Name()))
		}
	}
	if procs, err := filepath.Glob("/proc/[0-9]*/ns/net"); err == nil {
		cands = append(cands, procs...)
	}
	for _, p := range cands {
		var st unix.Stat_t
		if unix.Stat(p, &st) != nil {
			continue
		}
		if _, ok := n.seen[uint32(st.Ino)]; !ok {
			n.seen[uint32(st.Ino)] = p
		}
	}
}

// label renames a namespace after the first of its addresses that
// Options.NetnsLabels names (the kubectl plugin names pods this way).
func (n *names) label(h *nsHandle) {
	if len(n.labels) == 0 || h.nl == nil {
		return
	}
	addrs, err := h.nl.AddrList(nil, netlink.FAMILY_ALL)
	if err != nil {
		return
	}
	for _, a := range addrs {
		ip, ok := netip.AddrFromSlice(a.IP)
		if !ok {
			continue
		}
		if l, ok := n.labels[ip.Unmap()]; ok {
			h.name = l
			return
		}
	}
}

// procNetnsName names a namespace found through a process, e.g. "pid:4242(nginx)".
func procNetnsName(p string, inode uint32) string {
	pid := strings.Split(strings.TrimPrefix(p, "/proc/"), "/")[0]
	comm, err := os.ReadFile(filepath.Join("/proc", pid, "comm"))
	if err != nil {
		return fmt.Sprintf("netns:%d", inode)
	}
	return fmt.Sprintf("pid:%s(%s)", pid, strings.TrimSpace(string(comm)))
}
