package vm

import (
	"bytes"
	"context"
	"debug/elf"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// DefaultModules are loaded at boot in every VM, with their dependencies.
// Names that are built into a kernel, or that a kernel does not have, are
// skipped.
var DefaultModules = []string{
	"veth", "dummy", "bonding", "ipvlan", "macvlan", "8021q", "bridge", "vxlan", "tun",
	"sch_ingress", "cls_bpf", "act_bpf",
}

// module is one loadable module of a kernel.
type module struct {
	Name string // normalised: '-' written as '_'
	Path string // host path, .ko or compressed
	Rel  string // path below the module tree, without compression suffix
}

// moduleIndex finds the kernel's modules by name. Debian's packages ship no
// modules.dep (depmod writes it on install), so dependencies come from each
// module's own .modinfo section.
type moduleIndex struct {
	dir     string
	mods    map[string]module
	builtin map[string]bool
}

func modName(s string) string { return strings.ReplaceAll(s, "-", "_") }

func newModuleIndex(dir string) (*moduleIndex, error) {
	ix := &moduleIndex{dir: dir, mods: make(map[string]module), builtin: make(map[string]bool)}
	err := filepath.WalkDir(filepath.Join(dir, "kernel"), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		base := d.Name()
		for _, ext := range []string{".ko", ".ko.xz", ".ko.zst", ".ko.gz"} {
			if stem, ok := strings.CutSuffix(base, ext); ok {
				rel, err := filepath.Rel(dir, p)
				if err != nil {
					return err
				}
				rel = strings.TrimSuffix(rel, ext) + ".ko"
				ix.mods[modName(stem)] = module{Name: modName(stem), Path: p, Rel: rel}
				break
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("index modules in %s: %w", dir, err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "modules.builtin")); err == nil {
		for _, line := range strings.Fields(string(b)) {
			ix.builtin[modName(strings.TrimSuffix(filepath.Base(line), ".ko"))] = true
		}
	}
	return ix, nil
}

// resolve returns names and their dependencies in load order (each module
// after the modules it needs), with the contents of each .ko decompressed.
// skipped lists names that are built in or absent.
func (ix *moduleIndex) resolve(ctx context.Context, names []string) (order []module, data map[string][]byte, skipped []string, err error) {
	data = make(map[string][]byte)
	state := make(map[string]int) // 1: visiting, 2: done
	var visit func(name string, required bool) error
	visit = func(name string, required bool) error {
		name = modName(name)
		switch state[name] {
		case 1:
			return fmt.Errorf("resolve module %s: dependency cycle", name)
		case 2:
			return nil
		}
		m, ok := ix.mods[name]
		if !ok {
			if required && !ix.builtin[name] {
				return fmt.Errorf("resolve module %s: needed by another module but not found", name)
			}
			skipped = append(skipped, name)
			state[name] = 2
			return nil
		}
		state[name] = 1
		b, err := readModule(ctx, m.Path)
		if err != nil {
			return err
		}
		deps, err := moduleDepends(b)
		if err != nil {
			return fmt.Errorf("read dependencies of %s: %w", m.Path, err)
		}
		for _, d := range deps {
			if err := visit(d, true); err != nil {
				return err
			}
		}
		state[name] = 2
		data[name] = b
		order = append(order, m)
		return nil
	}
	for _, n := range names {
		if err := visit(n, false); err != nil {
			return nil, nil, nil, err
		}
	}
	return order, data, skipped, nil
}

// readModule returns a module's ELF bytes, decompressing with the host's
// xz, zstd or gzip tool.
func readModule(ctx context.Context, path string) ([]byte, error) {
	var tool string
	switch filepath.Ext(path) {
	case ".ko":
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read module: %w", err)
		}
		return b, nil
	case ".xz":
		tool = "xz"
	case ".zst":
		tool = "zstd"
	case ".gz":
		tool = "gzip"
	default:
		return nil, fmt.Errorf("read module %s: unknown compression", path)
	}
	out, err := command(ctx, "", tool, "-dc", path)
	if err != nil {
		return nil, fmt.Errorf("decompress module: %w", err)
	}
	return []byte(out), nil
}

// moduleDepends reads the depends= entry of a module's .modinfo section.
func moduleDepends(ko []byte) ([]string, error) {
	f, err := elf.NewFile(bytes.NewReader(ko))
	if err != nil {
		return nil, fmt.Errorf("parse module: %w", err)
	}
	defer f.Close()
	sec := f.Section(".modinfo")
	if sec == nil {
		return nil, fmt.Errorf("parse module: no .modinfo section")
	}
	info, err := sec.Data()
	if err != nil {
		return nil, fmt.Errorf("read .modinfo: %w", err)
	}
	for _, kv := range bytes.Split(info, []byte{0}) {
		if v, ok := bytes.CutPrefix(kv, []byte("depends=")); ok {
			var deps []string
			for _, d := range strings.Split(string(v), ",") {
				if d != "" {
					deps = append(deps, d)
				}
			}
			return deps, nil
		}
	}
	return nil, nil
}
