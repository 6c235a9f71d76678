package trace

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"

	"github.com/pktlife/pktlife/bpf"
	"github.com/pktlife/pktlife/trace/internal/nodens"
)

// errNoCgroup2 is returned when no cgroup v2 hierarchy is mounted.
var errNoCgroup2 = errors.New("no cgroup v2 hierarchy mounted")

// cgroup2Root finds the node's cgroup v2 root, as this process reaches
// it. From a private mount namespace (ip netns exec remounts /sys; a node
// pod's /sys/fs/cgroup is its own cgroup's subtree) it is looked up among
// the node's mounts: attached to anything but the root, the socket hops
// would see only some sockets.
func cgroup2Root() (string, error) {
	v := nodens.Get()
	f, err := os.Open(v.Proc + "/mountinfo")
	if err != nil {
		return "", fmt.Errorf("read mountinfo: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// ID parent major:minor root mountpoint ... - fstype source options
		fields := strings.Fields(sc.Text())
		for i, fld := range fields {
			if fld == "-" && i+1 < len(fields) && fields[i+1] == "cgroup2" && len(fields) > 4 && fields[3] == "/" {
				return v.Path(fields[4]), nil
			}
		}
	}
	return "", errNoCgroup2
}

// MechCgroupSKB is how socket hops are attached.
const MechCgroupSKB = "cgroup_skb"

// socketBackend attaches socket hops: a cgroup_skb observer on the cgroup
// v2 root sees every local socket's packets. The program always allows.
type socketBackend struct{}

func (socketBackend) probe(objs *objects, h HopDef) (string, error) {
	_, closers, err := attachSocket(objs, h)
	if err != nil {
		return "", err
	}
	return MechCgroupSKB, closeAll(closers)
}

// attach attaches the hops concurrently, as tracepointBackend does.
func (socketBackend) attach(objs *objects, hs []HopDef) attached {
	return concurrently(hs, func(h HopDef) attached {
		var out attached
		root, closers, err := attachSocket(objs, h)
		out.closers = closers
		out.report(h.Name, root, MechCgroupSKB, err)
		return out
	})
}

// attachSocket attaches the hop's program to the cgroup v2 root, which it
// returns.
func attachSocket(objs *objects, h HopDef) (root string, closers []io.Closer, err error) {
	if root, err = cgroup2Root(); err != nil {
		return "", nil, fmt.Errorf("attach %s: %w", h.Name, err)
	}
	name, attach := bpf.PktlifeProgPlSockEgress, ebpf.AttachCGroupInetEgress
	if objs.feat.atomics == nil {
		name = bpf.PktlifeProgPlSockEgressCas
	}
	if h.ingress {
		name, attach = bpf.PktlifeProgPlSockIngress, ebpf.AttachCGroupInetIngress
	}
	closers, err = attachProgram(objs, name, func(p *ebpf.Program) (link.Link, error) {
		lk, err := link.AttachCgroup(link.CgroupOptions{Path: root, Attach: attach, Program: p})
		if err != nil {
			return nil, fmt.Errorf("attach %s to cgroup %s: %w", h.Name, root, err)
		}
		return lk, nil
	})
	return root, closers, err
}
