package shimstate

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/pktlife/pktlife/trace/internal/nodens"
)

// Where the state lives by default, in the node's mount namespace: in the
// node's bpffs when it has one, else in a bpffs pktlife mounts for itself.
const (
	DefaultDir  = "/sys/fs/bpf/pktlife"
	FallbackDir = "/run/pktlife/bpffs"
	nodeBPFFS   = "/sys/fs/bpf"
	mountMarker = "pktlife-mounted" // a directory in a bpffs pktlife mounted
)

// ErrNoDurableState is returned where the state could only be kept in a
// place that dies with pktlife: shims whose shadows vanish drop packets.
var ErrNoDurableState = errors.New("no bpffs that outlives pktlife")

// Dir is a state directory: Node is its path in the node's mount
// namespace, Path the same directory as this process reaches it.
type Dir struct {
	Node string
	Path string
}

func (d Dir) String() string { return d.Node }

func (d Dir) join(name string) string { return filepath.Join(d.Path, name) }

// The environment of a kubectl pktlife node pod: its namespace and name,
// from the Downward API.
const (
	EnvPodNamespace = "PKTLIFE_POD_NAMESPACE"
	EnvPodName      = "PKTLIFE_POD_NAME"
)

// Describe says where this process runs, for the owner record; in a node
// pod of kubectl pktlife, which one.
func Describe() string {
	where := describeNS()
	if name := os.Getenv(EnvPodName); name != "" {
		if ns := os.Getenv(EnvPodNamespace); ns != "" {
			name = ns + "/" + name
		}
		where = "pod " + name + ", " + where
	}
	return where
}

func describeNS() string {
	v := nodens.Get()
	mnt, _ := os.Readlink("/proc/self/ns/mnt")
	switch {
	case v.InNode:
		return "the node's mount namespace"
	case v.Container:
		pid, _ := os.Readlink("/proc/self/ns/pid")
		return fmt.Sprintf("a container (%s, %s)", strings.Replace(pid, ":", " ", 1), strings.Replace(mnt, ":", " ", 1))
	}
	return fmt.Sprintf("a private mount namespace (%s)", strings.Replace(mnt, ":", " ", 1))
}

func isBPFFS(path string) bool {
	var st unix.Statfs_t
	return unix.Statfs(path, &st) == nil && st.Type == unix.BPF_FS_MAGIC
}

// Prepare returns the state directory at node (the default when empty),
// creating it where that is safe: in a bpffs the node has, or in one
// pktlife mounts, which it can only do from the node's mount namespace. It
// refuses with ErrNoDurableState where either would die with pktlife.
func Prepare(node string) (Dir, error) {
	v := nodens.Get()
	what := node
	if node == "" {
		what = "the node has no bpffs at " + nodeBPFFS + " or " + FallbackDir + ", and"
		node = FallbackDir
		if isBPFFS(v.Root + nodeBPFFS) {
			node = DefaultDir
		}
	}
	d := Dir{Node: node, Path: v.Root + node}
	switch {
	case isBPFFS(d.Path):
		return d, nil
	case isBPFFS(filepath.Dir(d.Path)):
		if err := os.Mkdir(d.Path, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
			return Dir{}, fmt.Errorf("create state dir %s: %w", node, err)
		}
		return d, nil
	case v.Container:
		return Dir{}, fmt.Errorf("keep tail-call state: %w: pktlife runs in a container outside the node's PID namespace that was given no bpffs at %s, so pins it made would vanish with it and leave the shims dropping packets; mount the node's %s into the container (or run it with the host's PID namespace)",
			ErrNoDurableState, nodeBPFFS, nodeBPFFS)
	case !v.InNode:
		if what == node {
			what = node + " is on no bpffs in the node's mount namespace, and"
		}
		return Dir{}, fmt.Errorf("keep tail-call state: %w: %s pktlife runs in a private mount namespace, where pins it made would vanish with it and leave the shims dropping packets; mount a bpffs on the node (mount -t bpf bpf %s)",
			ErrNoDurableState, what, nodeBPFFS)
	}
	if err := os.MkdirAll(d.Path, 0o700); err != nil {
		return Dir{}, fmt.Errorf("create state dir %s: %w", node, err)
	}
	if err := unix.Mount("bpf", d.Path, "bpf", 0, "mode=0700"); err != nil {
		return Dir{}, fmt.Errorf("mount bpffs at %s: %w", node, err)
	}
	if err := os.Mkdir(d.join(mountMarker), 0o700); err != nil {
		unix.Unmount(d.Path, unix.MNT_DETACH)
		return Dir{}, fmt.Errorf("mark bpffs at %s: %w", node, err)
	}
	return d, nil
}

// Locate lists the state directories that exist at node, or at the default
// places when node is empty, without creating any.
func Locate(node string) []Dir {
	v := nodens.Get()
	nodes := []string{node}
	if node == "" {
		nodes = []string{DefaultDir, FallbackDir}
	}
	var out []Dir
	for _, n := range nodes {
		d := Dir{Node: n, Path: v.Root + n}
		if isBPFFS(d.Path) {
			out = append(out, d)
		}
	}
	return out
}

// release removes the directory once it holds nothing but the owner pin:
// the bpffs pktlife mounted is unmounted (from the node's mount namespace
// only; elsewhere it is left for the next pktlife there), a directory it
// made in another bpffs is removed.
func release(d Dir) error {
	ents, err := os.ReadDir(d.Path)
	if err != nil {
		return nil
	}
	own := false
	for _, e := range ents {
		switch {
		case e.Name() == mountMarker:
			own = true
		case e.Name() == ownerPin, strings.HasSuffix(e.Name(), ".debug"):
			// the owner record goes with the directory; maps.debug and
			// progs.debug are the kernel's iterators in every new bpffs
		default:
			return nil // in use
		}
	}
	os.Remove(d.join(ownerPin))
	if !own {
		os.Remove(d.Path)
		return nil
	}
	if err := unix.Unmount(d.Path, unix.MNT_DETACH); err != nil {
		return fmt.Errorf("unmount the empty bpffs at %s (from the node's mount namespace only): %w", d.Node, err)
	}
	os.Remove(d.Path)
	return nil
}
