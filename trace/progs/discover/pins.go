//go:build linux

package discover

import (
	"bufio"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/cilium/ebpf"
)

// The kernel keeps 15 characters of a map's name (BPF_OBJ_NAME_LEN), so
// Cilium's cilium_calls_00042 shows as cilium_calls_00. Its agent pins
// every map in a bpffs under its full name; pinNames finds those pins.
const kernelNameLen = 15

// pinNames maps map IDs to the names they are pinned under, for the maps
// whose kernel name was cut. It reads the bpffs mounts of pktlife's own
// mount namespace, lazily and once per graph.
type pinNames struct {
	scanned bool
	byID    map[uint32]string
}

// name returns the pinned name of map id if its kernel name was cut and a
// pin that starts with it holds the same map; the kernel name otherwise.
func (p *pinNames) name(id uint32, kernel string) string {
	if len(kernel) < kernelNameLen {
		return kernel
	}
	if !p.scanned {
		p.scanned = true
		p.byID = map[uint32]string{}
		for _, mnt := range bpffsMounts() {
			scanPins(mnt, p.byID)
		}
	}
	if n, ok := p.byID[id]; ok {
		return n
	}
	return kernel
}

// FullMapName is the name map id is pinned under in a bpffs of this mount
// namespace when its kernel name (given) was cut to 15 characters; the
// kernel name otherwise. It walks the bpffs mounts on each call: callers
// cache.
func FullMapName(id uint32, kernel string) string {
	var p pinNames
	return p.name(id, kernel)
}

// bpffsMounts lists the mount points of bpffs in this mount namespace.
func bpffsMounts() []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	s := bufio.NewScanner(f)
	for s.Scan() {
		// ID parent major:minor root mountpoint options ... - fstype source ...
		pre, post, ok := strings.Cut(s.Text(), " - ")
		if !ok || !strings.HasPrefix(post, "bpf ") {
			continue
		}
		if fields := strings.Fields(pre); len(fields) >= 5 {
			out = append(out, unescapeMount(fields[4]))
		}
	}
	return out
}

// unescapeMount undoes mountinfo's octal escapes of space, tab, newline
// and backslash.
func unescapeMount(s string) string {
	r := strings.NewReplacer(`\040`, " ", `\011`, "\t", `\012`, "\n", `\134`, `\`)
	return r.Replace(s)
}

// maxPins bounds the walk of one bpffs.
const maxPins = 20000

// scanPins records, for every pin under root whose name is longer than the
// kernel keeps and that holds a map whose kernel name starts it, the map's
// ID and the pin's name.
func scanPins(root string, byID map[uint32]string) {
	n := 0
	filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if n++; n > maxPins {
			return filepath.SkipAll
		}
		if d.IsDir() || len(d.Name()) <= kernelNameLen {
			return nil
		}
		m, err := ebpf.LoadPinnedMap(path, &ebpf.LoadPinOptions{ReadOnly: true})
		if err != nil {
			return nil
		}
		defer m.Close()
		info, err := m.Info()
		if err != nil {
			return nil
		}
		if id, ok := info.ID(); ok && strings.HasPrefix(d.Name(), info.Name) {
			byID[uint32(id)] = d.Name()
		}
		return nil
	})
}
