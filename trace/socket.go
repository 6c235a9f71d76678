package trace

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/cilium/ebpf/link"
)

// errNoCgroup2 is returned when no cgroup v2 hierarchy is mounted.
var errNoCgroup2 = errors.New("no cgroup v2 hierarchy mounted")

// cgroup2Root finds where the cgroup v2 hierarchy is mounted.
func cgroup2Root() (string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return "", fmt.Errorf("read mountinfo: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// ... mountpoint ... - fstype source options
		fields := strings.Fields(sc.Text())
		for i, fld := range fields {
			if fld == "-" && i+1 < len(fields) && fields[i+1] == "cgroup2" && len(fields) > 4 {
				return fields[4], nil
			}
		}
	}
	return "", errNoCgroup2
}

// attachSocketHop attaches a cgroup_skb observer to the cgroup v2 root, so
// it sees every local socket's packets. The program always allows.
func (t *Tracer) attachSocketHop(h HopDef) {
	a := Attachment{Hop: h.Name, Mechanism: "cgroup_skb"}
	root, err := cgroup2Root()
	if err != nil {
		a.Err = fmt.Errorf("attach %s: %w", h.Name, err)
		t.attached = append(t.attached, a)
		return
	}
	a.Where = root
	name, attach := socketProg(h)
	prog, err := t.objs.loadProgram(name)
	if err != nil {
		a.Err = err
		t.attached = append(t.attached, a)
		return
	}
	lk, err := link.AttachCgroup(link.CgroupOptions{Path: root, Attach: attach, Program: prog})
	if err != nil {
		prog.Close()
		a.Err = fmt.Errorf("attach %s to cgroup %s: %w", h.Name, root, err)
		t.attached = append(t.attached, a)
		return
	}
	t.closers = append(t.closers, prog, lk)
	t.attached = append(t.attached, a)
}
