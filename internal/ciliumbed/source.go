package ciliumbed

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Module is the Go module whose zip carries Cilium's BPF sources.
const Module = "github.com/cilium/cilium"

// Versions the tests run on: the last v1.14 (legacy section names, clsact)
// and a current release (__declare_tail, tcx).
const (
	V114 = "v1.14.19"
	V118 = "v1.18.4"
)

// ErrDownload wraps every failure to get the sources: tests skip on it.
var ErrDownload = errors.New("download cilium sources")

// Source returns the directory of Cilium's sources at version, from the Go
// module cache, downloading the module if it is not there yet.
func Source(version string) (string, error) {
	cmd := exec.Command("go", "mod", "download", "-json", Module+"@"+version)
	cmd.Dir = os.TempDir() // outside any module: nothing to update
	cmd.Env = append(os.Environ(), "GO111MODULE=on", "GOFLAGS=-mod=mod")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var info struct{ Dir, Error string }
	if jerr := json.Unmarshal(out, &info); jerr == nil && info.Error != "" {
		return "", fmt.Errorf("%w %s: %s", ErrDownload, version, info.Error)
	}
	if err != nil {
		return "", fmt.Errorf("%w %s: %v: %s", ErrDownload, version, err, strings.TrimSpace(stderr.String()))
	}
	if _, err := os.Stat(filepath.Join(info.Dir, "bpf", "bpf_lxc.c")); err != nil {
		return "", fmt.Errorf("%w %s: no bpf/ in the module: %v", ErrDownload, version, err)
	}
	return info.Dir, nil
}

// Program is one of Cilium's datapath programs with its compile options.
type Program struct {
	File    string   // in bpf/, e.g. "bpf_lxc.c"
	Defines []string // e.g. "ENABLE_IPV4": one of the option sets bpf/Makefile compile-tests
}

// LXC is bpf_lxc.c in the IPv4-only option set of Cilium's LXC_OPTIONS
// compile tests, with SKIP_DEBUG (another of that list): the endpoint's
// program without debug messages.
var LXC = Program{File: "bpf_lxc.c", Defines: []string{"SKIP_DEBUG", "ENABLE_IPV4"}}

// Host is bpf_host.c in the same option set (HOST_OPTIONS starts with
// LXC_OPTIONS): the node's program for its host and external devices.
var Host = Program{File: "bpf_host.c", Defines: []string{"SKIP_DEBUG", "ENABLE_IPV4"}}

// clangFlags are those of Cilium's bpf/Makefile.bpf (FLAGS and CLANG_FLAGS,
// with the warnings the build turns into errors left as warnings: clang-19
// knows warnings Cilium's clang did not) and the -mcpu each release's
// Makefile picks by default: v2 up to 1.14 (its default KERNEL), v3 later.
// The two steps of the Makefile (clang -emit-llvm, then llc) are one here.
func clangFlags(src, version string, p Program) []string {
	cpu := "-mcpu=v3"
	if strings.HasPrefix(version, "v1.14.") {
		cpu = "-mcpu=v2"
	}
	args := []string{
		"-I" + filepath.Join(src, "bpf", "include"), "-I" + filepath.Join(src, "bpf"),
		"-D__NR_CPUS__=2", "-O2", "-g", "--target=bpf", "-std=gnu89", "-nostdinc", cpu,
		"-Wno-address-of-packed-member", "-Wno-unknown-warning-option",
		"-Wno-gnu-variable-sized-type-not-at-end",
	}
	for _, d := range p.Defines {
		args = append(args, "-D"+d+"=1")
	}
	return args
}

// Clang is the compiler, as the project's Makefile uses it.
var Clang = "clang-19"

// EnvCache, when set, names the directory of compiled objects instead of
// the user's cache: the VM tests read the objects compiled on the host
// from there (see the Makefile's test-vm).
const EnvCache = "PKTLIFE_CILIUM_CACHE"

// CacheDir is where compiled objects are kept: $PKTLIFE_CILIUM_CACHE or
// ~/.cache/pktlife/cilium.
func CacheDir() (string, error) {
	if d := os.Getenv(EnvCache); d != "" {
		return d, nil
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("find cache dir: %w", err)
	}
	return filepath.Join(d, "pktlife", "cilium"), nil
}

// Compile returns the object of p at version, compiling it into the cache
// when no object with the same flags is there. It reports whether it
// compiled. A cached object is found without the sources (the object's
// name does not depend on where they are): the VM has neither the go
// tool nor clang.
func Compile(version string, p Program) (obj string, compiled bool, err error) {
	cache, err := CacheDir()
	if err != nil {
		return "", false, err
	}
	key := clangFlags("SRC", version, p)
	sum := sha256.Sum256([]byte(Clang + " " + strings.Join(key, " ") + " " + p.File))
	dir := filepath.Join(cache, version)
	obj = filepath.Join(dir, strings.TrimSuffix(p.File, ".c")+"-"+hex.EncodeToString(sum[:6])+".o")
	if _, err := os.Stat(obj); err == nil {
		return obj, false, nil
	}
	src, err := Source(version)
	if err != nil {
		return "", false, err
	}
	args := clangFlags(src, version, p)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", false, fmt.Errorf("create cache dir: %w", err)
	}
	tmp := fmt.Sprintf("%s.%d.tmp", obj, os.Getpid())
	cmd := exec.Command(Clang, append(args, "-c", filepath.Join(src, "bpf", p.File), "-o", tmp)...)
	cmd.Dir = filepath.Join(src, "bpf")
	if out, err := cmd.CombinedOutput(); err != nil {
		os.Remove(tmp)
		return "", false, fmt.Errorf("compile %s %s: %w: %s", version, p.File, err, lastLines(out, 20))
	}
	if err := os.Rename(tmp, obj); err != nil {
		os.Remove(tmp)
		return "", false, fmt.Errorf("cache object: %w", err)
	}
	return obj, true, nil
}

func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
