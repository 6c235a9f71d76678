package vm

import (
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

//go:embed init.sh
var initScript []byte

// hostTools are the iproute2 programs copied into the VM with their shared
// libraries; busybox's own ip knows no network namespaces.
var hostTools = []string{"ip", "tc", "bridge"}

// hostFile is one file of the host that goes into the base archive.
type hostFile struct {
	dst, src string
}

// baseInitramfs returns the path of the cached base archive for k: init,
// busybox, iproute2 with its libraries, and the modules with their
// dependencies. It is built once per kernel, module list and host tool set.
func baseInitramfs(ctx context.Context, cacheDir string, k *Kernel, modules []string, log io.Writer) (string, error) {
	busybox, err := findTool("busybox")
	if err != nil {
		return "", err
	}
	if err := checkStatic(busybox); err != nil {
		return "", fmt.Errorf("check busybox (install busybox-static): %w", err)
	}
	files := []hostFile{{"bin/busybox", busybox}}
	for _, t := range hostTools {
		p, err := findTool(t)
		if err != nil {
			return "", err
		}
		libs, err := sharedLibs(ctx, p)
		if err != nil {
			return "", err
		}
		files = append(files, hostFile{"usr/sbin/" + t, p})
		for _, l := range libs {
			files = append(files, hostFile{strings.TrimPrefix(l, "/"), l})
		}
	}
	if dists, _ := filepath.Glob("/usr/lib/x86_64-linux-gnu/tc/*.dist"); len(dists) > 0 {
		for _, d := range dists {
			files = append(files, hostFile{strings.TrimPrefix(d, "/"), d})
		}
	}
	files = dedupe(files)

	key, err := baseKey(k, modules, files)
	if err != nil {
		return "", err
	}
	out := filepath.Join(cacheDir, k.Release, "initramfs-"+key+".cpio")
	if _, err := os.Stat(out); err == nil {
		return out, nil
	}
	unlock, err := lockDir(cacheDir)
	if err != nil {
		return "", err
	}
	defer unlock()
	if _, err := os.Stat(out); err == nil {
		return out, nil // built by another vmexec while we waited
	}

	fmt.Fprintf(log, "vmexec: building initramfs for %s\n", k.Release)
	ix, err := newModuleIndex(k.ModulesDir())
	if err != nil {
		return "", err
	}
	order, data, skipped, err := ix.resolve(ctx, modules)
	if err != nil {
		return "", err
	}
	if len(skipped) > 0 {
		fmt.Fprintf(log, "vmexec: %s: built in or absent, not loaded: %s\n", k.Release, strings.Join(skipped, " "))
	}

	tmp, err := os.CreateTemp(filepath.Dir(out), ".initramfs-")
	if err != nil {
		return "", fmt.Errorf("create initramfs: %w", err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	if err := writeBase(ctx, tmp, k, files, busybox, order, data); err != nil {
		return "", err
	}
	if err := tmp.Close(); err != nil {
		return "", fmt.Errorf("write initramfs: %w", err)
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return "", fmt.Errorf("move initramfs into cache: %w", err)
	}
	return out, nil
}

func writeBase(ctx context.Context, w io.Writer, k *Kernel, files []hostFile, busybox string, order []module, data map[string][]byte) error {
	c := newCPIOWriter(w)
	for _, d := range []string{"proc", "sys", "dev", "tmp", "run", "root", "work", "etc/pktlife", "usr/bin", "sbin"} {
		if err := c.Mkdir(d); err != nil {
			return err
		}
	}
	if err := c.CharDev("dev/console", 0o600, 5, 1); err != nil {
		return err
	}
	if err := c.CharDev("dev/null", 0o666, 1, 3); err != nil {
		return err
	}
	if err := c.Symlink("var/run", "../run"); err != nil {
		return err
	}
	if err := c.WriteBytes("init", 0o755, initScript); err != nil {
		return err
	}
	etc := map[string]string{
		"etc/hosts":    "127.0.0.1 localhost pktlife-vm\n::1 localhost\n",
		"etc/passwd":   "root:x:0:0:root:/root:/bin/sh\n",
		"etc/group":    "root:x:0:\n",
		"etc/hostname": "pktlife-vm\n",
	}
	for _, name := range slices.Sorted(maps.Keys(etc)) {
		if err := c.WriteBytes(name, 0o644, []byte(etc[name])); err != nil {
			return err
		}
	}
	for _, f := range files {
		if err := c.CopyFile(f.dst, f.src); err != nil {
			return err
		}
	}
	if _, err := os.Stat("/etc/iproute2"); err == nil {
		if err := c.CopyTree("etc/iproute2", "/etc/iproute2"); err != nil {
			return err
		}
	}
	applets, err := command(ctx, "", busybox, "--list")
	if err != nil {
		return err
	}
	for _, a := range strings.Fields(applets) {
		if a == "busybox" || slices.Contains(hostTools, a) {
			continue
		}
		if err := c.Symlink("bin/"+a, "busybox"); err != nil {
			return err
		}
	}

	modDir := "lib/modules/" + k.Release
	var load, dep strings.Builder
	for _, m := range order {
		if err := c.WriteBytes(path.Join(modDir, m.Rel), 0o644, data[m.Name]); err != nil {
			return err
		}
		fmt.Fprintln(&load, m.Rel)
		deps, _ := moduleDepends(data[m.Name])
		fmt.Fprintf(&dep, "%s:", m.Rel)
		for _, d := range deps {
			for _, o := range order {
				if o.Name == modName(d) {
					fmt.Fprintf(&dep, " %s", o.Rel)
				}
			}
		}
		fmt.Fprintln(&dep)
	}
	if err := c.WriteBytes("etc/pktlife/modules", 0o644, []byte(load.String())); err != nil {
		return err
	}
	if err := c.WriteBytes(modDir+"/modules.dep", 0o644, []byte(dep.String())); err != nil {
		return err
	}
	return c.Close()
}

// baseFormat changes when writeBase lays the archive out differently, so
// that cached archives of the old layout are not reused.
const baseFormat = 1

// baseKey names a base archive by everything that goes into it.
func baseKey(k *Kernel, modules []string, files []hostFile) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "format %d\n", baseFormat)
	h.Write(initScript)
	fmt.Fprintf(h, "\n%s %s %s\n", k.Release, k.Version, strings.Join(modules, ","))
	for _, f := range files {
		st, err := os.Stat(f.src)
		if err != nil {
			return "", fmt.Errorf("stat %s: %w", f.src, err)
		}
		fmt.Fprintf(h, "%s %s %d %d\n", f.dst, f.src, st.Size(), st.ModTime().UnixNano())
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

// findTool looks a program up in PATH and then in the sbin directories,
// which a non-root PATH often lacks.
func findTool(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, d := range []string{"/usr/sbin", "/sbin", "/usr/bin", "/bin"} {
		p := filepath.Join(d, name)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			return p, nil
		}
	}
	return "", fmt.Errorf("find %s on the host (make deps-vm installs qemu-system-x86, busybox-static, iproute2 and xz-utils): %w", name, exec.ErrNotFound)
}

// sharedLibs lists the shared objects (and the dynamic loader) that ldd
// says bin needs.
func sharedLibs(ctx context.Context, bin string) ([]string, error) {
	out, err := command(ctx, "", "ldd", bin)
	if err != nil {
		return nil, err
	}
	return parseLdd(out), nil
}

func parseLdd(out string) []string {
	var libs []string
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) >= 3 && f[1] == "=>" && strings.HasPrefix(f[2], "/"):
			libs = append(libs, f[2])
		case len(f) >= 1 && strings.HasPrefix(f[0], "/"):
			libs = append(libs, f[0]) // the dynamic loader
		}
	}
	return libs
}

func dedupe(files []hostFile) []hostFile {
	seen := make(map[string]bool)
	var out []hostFile
	for _, f := range files {
		if !seen[f.dst] {
			seen[f.dst] = true
			out = append(out, f)
		}
	}
	return out
}
