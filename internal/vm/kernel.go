package vm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
)

// ErrNoKernel is returned when no Debian package provides the wanted kernel.
var ErrNoKernel = errors.New("no kernel package found")

// Kernel is one Debian kernel image package unpacked in the cache.
type Kernel struct {
	Release string // uname -r, e.g. "6.12.117+deb12-amd64"
	Package string // e.g. "linux-image-6.12.117+deb12-amd64"
	Version string // the package's version, e.g. "6.12.117-1~deb12u1"
	Dir     string // root of the unpacked package
}

// Vmlinuz is the path of the kernel image: boot/vmlinuz-RELEASE in the
// packages up to 6.x, usr/lib/modules/RELEASE/vmlinuz in sid's split
// linux-binary-RELEASE package (7.x).
func (k *Kernel) Vmlinuz() string {
	return firstExisting(filepath.Join(k.Dir, "boot", "vmlinuz-"+k.Release),
		filepath.Join(k.Dir, "usr", "lib", "modules", k.Release, "vmlinuz"))
}

// ModulesDir is the path of the kernel's module tree: lib/modules/RELEASE,
// or usr/lib/modules/RELEASE in the packages that moved it (7.x).
func (k *Kernel) ModulesDir() string {
	return firstExisting(filepath.Join(k.Dir, "lib", "modules", k.Release),
		filepath.Join(k.Dir, "usr", "lib", "modules", k.Release))
}

// firstExisting returns the first path that exists, else the first.
func firstExisting(paths ...string) string {
	for _, p := range paths {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return paths[0]
}

// DefaultCacheDir is $PKTLIFE_VM_CACHE, else
// ${XDG_CACHE_HOME:-$HOME/.cache}/pktlife/vm, else (no HOME) a directory
// under $TMPDIR.
func DefaultCacheDir() (string, error) {
	if d := os.Getenv("PKTLIFE_VM_CACHE"); d != "" {
		return d, nil
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "pktlife", "vm"), nil
	}
	return filepath.Join(os.TempDir(), "pktlife-vm-cache"), nil // neither XDG_CACHE_HOME nor HOME
}

var seriesRE = regexp.MustCompile(`^[0-9]+\.[0-9]+$`)

// imageRE matches the amd64 image package names of one series, e.g.
// linux-image-6.1.0-56-amd64 and linux-image-6.12.117+deb12-amd64, but
// neither the -unsigned, -dbg, -cloud and -rt flavours nor meta-packages.
func imageRE(series string) *regexp.Regexp {
	return regexp.MustCompile(`^linux-image-` + regexp.QuoteMeta(series) +
		`(\.[0-9]+)(-[0-9]+)?(\+deb[0-9]+)?-amd64$`)
}

// FetchKernel resolves want — a series such as "6.12", "6.1", "5.10" or
// "7.2", or an exact release such as "6.12.117+deb12-amd64" — to Debian's
// newest image package that apt knows, and unpacks it under cacheDir unless
// it is there already. The system's apt sources are asked first, then
// pktlife's private ones (bullseye, sid; see privateSuites), each updated
// once when it knows no such package (the system's only as root). When apt
// cannot help at all it falls back to the newest cached kernel of the
// series. Progress goes to log.
func FetchKernel(ctx context.Context, cacheDir, want string, log io.Writer) (*Kernel, error) {
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return nil, fmt.Errorf("create cache directory: %w", err)
	}
	unlock, err := lockDir(cacheDir)
	if err != nil {
		return nil, err
	}
	defer unlock()
	private, err := privateApt(cacheDir)
	if err != nil {
		return nil, err
	}
	sources := []*aptSource{systemApt, private}

	var pkg, version string
	var src *aptSource
	if seriesRE.MatchString(want) {
		pkg, version, src, err = newestImageCached(ctx, cacheDir, want, sources, log)
		if err != nil {
			if k, cerr := newestCached(cacheDir, want); cerr == nil {
				fmt.Fprintf(log, "vmexec: %v; using cached %s\n", err, k.Release)
				return k, nil
			}
			return nil, err
		}
	} else {
		pkg = "linux-image-" + want
		if k, err := cachedKernel(cacheDir, want); err == nil {
			return k, nil
		}
		for _, s := range sources {
			c, err := candidates(ctx, s, []string{pkg})
			if err != nil {
				return nil, err
			}
			if version, src = c[pkg], s; version != "" {
				break
			}
		}
		if version == "" {
			return nil, fmt.Errorf("find package %s: %w", pkg, ErrNoKernel)
		}
	}
	release := strings.TrimPrefix(pkg, "linux-image-")
	if k, err := cachedKernel(cacheDir, release); err == nil && k.Version == version {
		return k, nil
	}
	k, err := download(ctx, cacheDir, src, pkg, version, release, log)
	if !errors.Is(err, errDownload) || !src.private || !seriesRE.MatchString(want) {
		return k, err
	}
	// sid drops superseded kernels from the archive: refresh and retry once.
	os.Remove(filepath.Join(cacheDir, "series-"+want))
	if uerr := src.update(ctx, log); uerr != nil {
		return nil, err
	}
	if pkg, version, err = newestImage(ctx, src, want, false, log); err != nil {
		return nil, err
	}
	return download(ctx, cacheDir, src, pkg, version, strings.TrimPrefix(pkg, "linux-image-"), log)
}

// newestImageCached is newestImage, remembered until the apt sources'
// package lists change (apt-cache takes a second or two per call).
func newestImageCached(ctx context.Context, cacheDir, series string, sources []*aptSource, log io.Writer) (pkg, version string, src *aptSource, err error) {
	memo := filepath.Join(cacheDir, "series-"+series)
	stamp := func() string {
		var s []string
		for _, a := range sources {
			s = append(s, a.stamp())
		}
		return strings.Join(s, ",")
	}
	if b, err := os.ReadFile(memo); err == nil {
		f := strings.Fields(string(b))
		if len(f) == 4 && f[2] == stamp() {
			for _, a := range sources {
				if a.private == (f[3] == "private") && !a.stale() {
					return f[0], f[1], a, nil
				}
			}
		}
	}
	// First what the lists know, then each source again after apt-get
	// update: a private series does not update the system's lists.
	for _, update := range []bool{false, true} {
		for _, a := range sources {
			if pkg, version, err = newestImage(ctx, a, series, update, log); err == nil {
				src = a
				break
			}
		}
		if src != nil {
			break
		}
	}
	if src == nil {
		return "", "", nil, err
	}
	kind := "system"
	if src.private {
		kind = "private"
	}
	if err := os.WriteFile(memo, []byte(pkg+" "+version+" "+stamp()+" "+kind+"\n"), 0o644); err != nil {
		return "", "", nil, fmt.Errorf("remember %s kernel: %w", series, err)
	}
	return pkg, version, src, nil
}

// newestImage asks one apt source for the series' image packages and picks
// the one with the highest candidate version. A private source's stale
// lists are updated first; with update, lists that know no such package are
// updated once.
func newestImage(ctx context.Context, a *aptSource, series string, update bool, log io.Writer) (pkg, version string, err error) {
	if a.stale() {
		if err := a.update(ctx, log); err != nil {
			return "", "", err
		}
	}
	for attempt := 0; ; attempt++ {
		out, err := command(ctx, "", "apt-cache", a.cmd("pkgnames", "linux-image-"+series)...)
		if err != nil {
			return "", "", err
		}
		re := imageRE(series)
		var names []string
		for _, n := range strings.Fields(out) {
			if re.MatchString(n) {
				names = append(names, n)
			}
		}
		if len(names) > 0 {
			c, err := candidates(ctx, a, names)
			if err != nil {
				return "", "", err
			}
			for n, v := range c {
				if v != "" && (version == "" || compareDebVersions(v, version) > 0) {
					pkg, version = n, v
				}
			}
			if pkg != "" {
				return pkg, version, nil
			}
		}
		if attempt > 0 || !update || (!a.private && os.Geteuid() != 0) {
			return "", "", fmt.Errorf("find linux-image-%s.*-amd64 with apt-cache: %w", series, ErrNoKernel)
		}
		if err := a.update(ctx, log); err != nil {
			return "", "", err
		}
	}
}

func cachedKernel(cacheDir, release string) (*Kernel, error) {
	dir := filepath.Join(cacheDir, release)
	b, err := os.ReadFile(filepath.Join(dir, "package"))
	if err != nil {
		return nil, fmt.Errorf("read cached kernel %s: %w", release, err)
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return nil, fmt.Errorf("read cached kernel %s: malformed package file", release)
	}
	return &Kernel{Release: release, Package: f[0], Version: f[1], Dir: filepath.Join(dir, "root")}, nil
}

func newestCached(cacheDir, series string) (*Kernel, error) {
	entries, err := os.ReadDir(cacheDir)
	if err != nil {
		return nil, fmt.Errorf("read cache: %w", err)
	}
	re := imageRE(series)
	var ks []*Kernel
	for _, e := range entries {
		if k, err := cachedKernel(cacheDir, e.Name()); err == nil && re.MatchString(k.Package) {
			ks = append(ks, k)
		}
	}
	if len(ks) == 0 {
		return nil, fmt.Errorf("find cached %s kernel: %w", series, ErrNoKernel)
	}
	sort.Slice(ks, func(i, j int) bool { return compareDebVersions(ks[i].Version, ks[j].Version) > 0 })
	return ks[0], nil
}

// download fetches pkg=version with apt-get download, unpacks it with
// dpkg-deb and moves it into place in one rename.
func download(ctx context.Context, cacheDir string, src *aptSource, pkg, version, release string, log io.Writer) (*Kernel, error) {
	tmp, err := os.MkdirTemp(cacheDir, ".fetch-")
	if err != nil {
		return nil, fmt.Errorf("create fetch directory: %w", err)
	}
	defer os.RemoveAll(tmp)

	root := filepath.Join(tmp, "root")
	parts, err := fetchDeb(ctx, tmp, root, src, pkg, version, log)
	if err != nil {
		return nil, err
	}
	for _, p := range kernelParts(parts, release) {
		if _, err := fetchDeb(ctx, tmp, root, src, p[0], p[1], log); err != nil {
			return nil, err
		}
	}
	k := &Kernel{Release: release, Package: pkg, Version: version, Dir: root}
	if _, err := os.Stat(k.Vmlinuz()); err != nil {
		return nil, fmt.Errorf("unpack %s: %w", pkg, err)
	}
	if _, err := os.Stat(k.ModulesDir()); err != nil {
		return nil, fmt.Errorf("unpack %s: %w", pkg, err)
	}
	if err := os.WriteFile(filepath.Join(tmp, "package"), []byte(pkg+" "+version+"\n"), 0o644); err != nil {
		return nil, fmt.Errorf("write package file: %w", err)
	}
	dir := filepath.Join(cacheDir, release)
	if err := os.RemoveAll(dir); err != nil { // an older build of the same release
		return nil, fmt.Errorf("remove stale %s: %w", dir, err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		return nil, fmt.Errorf("move kernel into cache: %w", err)
	}
	k.Dir = filepath.Join(dir, "root")
	return k, nil
}

// command runs name in dir and returns its standard output; a failure
// carries the command's standard error.
func command(ctx context.Context, dir, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("run %s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// lockDir takes an exclusive flock on dir/.lock, so that concurrent vmexec
// processes (go test runs packages in parallel) fetch and build once.
func lockDir(dir string) (unlock func(), err error) {
	f, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open cache lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock cache: %w", err)
	}
	return func() { f.Close() }, nil
}
