package vm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// aptSource is one apt configuration that kernel packages are looked up in
// and downloaded from: the system's own, or pktlife's private one.
type aptSource struct {
	name  string   // for messages: "system apt", "private apt (bullseye, sid)"
	args  []string // -o options that make apt-get and apt-cache use it
	lists string   // its package lists directory; the modification time says when they changed
	// private sources need no root to update and are refreshed when older
	// than maxListAge, as sid removes superseded kernels from the archive.
	private bool
}

// systemApt is the machine's own apt configuration, read-only to us except
// for apt-get update.
var systemApt = &aptSource{name: "system apt", lists: "/var/lib/apt/lists"}

// privateSuites are the Debian suites the system's apt sources (bookworm on
// pktlife's machines) do not name: bullseye serves 5.10
// (linux-image-5.10.0-N-amd64), sid the newest kernels (7.2 at the time of
// writing). They live in a private apt configuration under the cache, so the
// system's /etc/apt and /var/lib/apt stay untouched.
var privateSuites = []struct{ uri, suite string }{
	{"http://deb.debian.org/debian", "bullseye"},
	{"http://deb.debian.org/debian-security", "bullseye-security"},
	{"http://deb.debian.org/debian", "sid"},
}

// archiveKeyring verifies Debian's archive; debian-archive-keyring installs
// it on every Debian system.
const archiveKeyring = "/usr/share/keyrings/debian-archive-keyring.gpg"

// errDownload marks a failed apt-get download (a package the archive no
// longer has, say), after which a private source's lists are refreshed.
var errDownload = errors.New("download failed")

// maxListAge is how old the private package lists may get before a lookup
// refreshes them.
const maxListAge = 24 * time.Hour

// privateApt writes (or rewrites) the private apt configuration under
// cacheDir/apt and returns it. Nothing outside that directory changes: the
// source list, source parts, preferences, package lists, package cache and
// dpkg status all point into it.
func privateApt(cacheDir string) (*aptSource, error) {
	root := filepath.Join(cacheDir, "apt")
	for _, d := range []string{"lists/partial", "cache/archives/partial", "sources.list.d", "preferences.d"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			return nil, fmt.Errorf("create private apt directory: %w", err)
		}
	}
	var list strings.Builder
	var suites []string
	for _, s := range privateSuites {
		fmt.Fprintf(&list, "deb [signed-by=%s] %s %s main\n", archiveKeyring, s.uri, s.suite)
		suites = append(suites, s.suite)
	}
	files := map[string]string{"sources.list": list.String(), "status": ""}
	for name, content := range files {
		p := filepath.Join(root, name)
		if b, err := os.ReadFile(p); err == nil && string(b) == content {
			continue
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			return nil, fmt.Errorf("write private apt %s: %w", name, err)
		}
	}
	o := func(k, v string) []string { return []string{"-o", k + "=" + v} }
	var args []string
	for _, kv := range [][2]string{
		{"Dir::Etc::SourceList", filepath.Join(root, "sources.list")},
		{"Dir::Etc::SourceParts", filepath.Join(root, "sources.list.d")},
		{"Dir::Etc::Preferences", filepath.Join(root, "preferences")},
		{"Dir::Etc::PreferencesParts", filepath.Join(root, "preferences.d")},
		{"Dir::State::Lists", filepath.Join(root, "lists")},
		{"Dir::State::status", filepath.Join(root, "status")},
		{"Dir::State::extended_states", filepath.Join(root, "extended_states")},
		{"Dir::Cache", filepath.Join(root, "cache")},
		{"APT::Sandbox::User", "root"}, // _apt may not reach a cache under $HOME
		{"Acquire::Languages", "none"},
		{"Acquire::IndexTargets::deb::DEP-11::DefaultEnabled", "false"},
	} {
		args = append(args, o(kv[0], kv[1])...)
	}
	return &aptSource{
		name:    "private apt (" + strings.Join(suites, ", ") + ")",
		args:    args,
		lists:   filepath.Join(root, "lists"),
		private: true,
	}, nil
}

// stamp changes whenever the source's package lists are replaced.
func (a *aptSource) stamp() string {
	st, err := os.Stat(a.lists)
	if err != nil {
		return "none"
	}
	return st.ModTime().UTC().Format(time.RFC3339Nano)
}

// stale says whether a private source's lists are missing or old.
func (a *aptSource) stale() bool {
	if !a.private {
		return false
	}
	st, err := os.Stat(filepath.Join(a.lists, "lock"))
	if err != nil {
		return true
	}
	ents, _ := os.ReadDir(a.lists)
	return len(ents) <= 2 || time.Since(st.ModTime()) > maxListAge // only lock and partial/
}

// update runs apt-get update on the source. The system's needs root; the
// private one is ours.
func (a *aptSource) update(ctx context.Context, log io.Writer) error {
	if !a.private && os.Geteuid() != 0 {
		return fmt.Errorf("update %s: not root", a.name)
	}
	fmt.Fprintf(log, "vmexec: apt-get update (%s)\n", a.name)
	if _, err := command(ctx, "", "apt-get", a.cmd("update")...); err != nil {
		return err
	}
	if a.private { // the lock file's time marks the last update
		now := time.Now()
		_ = os.Chtimes(filepath.Join(a.lists, "lock"), now, now)
		_ = os.Chtimes(a.lists, now, now)
	}
	return nil
}

// cmd prepends the source's options to an apt-get or apt-cache command.
func (a *aptSource) cmd(args ...string) []string {
	return append(append([]string{"-q"}, a.args...), args...)
}

// candidates returns apt's candidate version of each package ("" when it
// has none).
func candidates(ctx context.Context, a *aptSource, pkgs []string) (map[string]string, error) {
	out, err := command(ctx, "", "apt-cache", a.cmd(append([]string{"policy"}, pkgs...)...)...)
	if err != nil {
		return nil, err
	}
	c := make(map[string]string)
	var cur string
	for _, line := range strings.Split(out, "\n") {
		if line != "" && line[0] != ' ' && strings.HasSuffix(line, ":") {
			cur = strings.TrimSuffix(line, ":")
			continue
		}
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "Candidate:"); ok && cur != "" {
			if v = strings.TrimSpace(v); v != "(none)" {
				c[cur] = v
			}
		}
	}
	return c, nil
}

// fetchDeb downloads pkg=version into dir, unpacks it into root, removes
// the .deb and returns the package's Depends field.
func fetchDeb(ctx context.Context, dir, root string, src *aptSource, pkg, version string, log io.Writer) (depends string, err error) {
	fmt.Fprintf(log, "vmexec: downloading %s %s (%s)\n", pkg, version, src.name)
	if _, err := command(ctx, dir, "apt-get", src.cmd("download", pkg+"="+version)...); err != nil {
		return "", fmt.Errorf("%w: %w", errDownload, err)
	}
	debs, _ := filepath.Glob(filepath.Join(dir, "*.deb"))
	if len(debs) != 1 {
		return "", fmt.Errorf("download %s: expected one .deb, found %d", pkg, len(debs))
	}
	if _, err := command(ctx, "", "dpkg-deb", "-x", debs[0], root); err != nil {
		return "", err
	}
	depends, err = command(ctx, "", "dpkg-deb", "-f", debs[0], "Depends")
	if err != nil {
		return "", err
	}
	if err := os.Remove(debs[0]); err != nil {
		return "", fmt.Errorf("remove %s: %w", debs[0], err)
	}
	return strings.TrimSpace(depends), nil
}

// kernelParts picks, from an image package's Depends field, the packages
// that hold the rest of the same kernel: sid (7.x) splits
// linux-image-R into linux-binary-R (vmlinuz), linux-modules-R and
// linux-base-R, each required at exactly the image's version. Older
// packages hold everything themselves and name no such part.
func kernelParts(depends, release string) [][2]string {
	var parts [][2]string
	for _, d := range strings.Split(depends, ",") {
		d = strings.TrimSpace(d)
		if strings.Contains(d, "|") {
			continue
		}
		name, ver, ok := strings.Cut(d, " (= ")
		if !ok || !strings.HasSuffix(name, "-"+release) || !strings.HasPrefix(name, "linux-") {
			continue
		}
		parts = append(parts, [2]string{name, strings.TrimSuffix(ver, ")")})
	}
	return parts
}
