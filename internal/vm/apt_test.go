package vm

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestKernelParts(t *testing.T) {
	// sid's 7.2 image package: a shell over the kernel's parts
	deps := "dracut | initramfs-tools (>= 0.120+deb8u2) | linux-initramfs-tool, linux-base-7.2.13+deb14-amd64 (= 7.2.13-1), " +
		"linux-binary-7.2.13+deb14-amd64 (= 7.2.13-1), linux-modules-7.2.13+deb14-amd64 (= 7.2.13-1), kmod"
	got := kernelParts(deps, "7.2.13+deb14-amd64")
	want := [][2]string{
		{"linux-base-7.2.13+deb14-amd64", "7.2.13-1"},
		{"linux-binary-7.2.13+deb14-amd64", "7.2.13-1"},
		{"linux-modules-7.2.13+deb14-amd64", "7.2.13-1"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("parts %v, want %v", got, want)
	}
	// bookworm's 6.12 and bullseye's 5.10 hold everything themselves
	if got := kernelParts("kmod, linux-base (>= 4.3~), initramfs-tools (>= 0.120+deb8u2) | linux-initramfs-tool", "5.10.0-46-amd64"); len(got) != 0 {
		t.Errorf("parts of a whole package: %v", got)
	}
}

// TestPrivateAptStaysInCache: the private apt configuration names the
// extra suites and points every apt directory into the cache.
func TestPrivateAptStaysInCache(t *testing.T) {
	dir := t.TempDir()
	a, err := privateApt(dir)
	if err != nil {
		t.Fatal(err)
	}
	list, err := os.ReadFile(filepath.Join(dir, "apt", "sources.list"))
	if err != nil {
		t.Fatal(err)
	}
	for _, suite := range []string{" bullseye main", " bullseye-security main", " sid main"} {
		if !strings.Contains(string(list), suite) {
			t.Errorf("sources.list lacks%s:\n%s", suite, list)
		}
	}
	for i := 0; i+1 < len(a.args); i += 2 {
		k, v, _ := strings.Cut(a.args[i+1], "=")
		if strings.HasPrefix(k, "Dir::") && !strings.HasPrefix(v, dir) {
			t.Errorf("%s=%s is outside the cache", k, v)
		}
	}
	if !a.stale() {
		t.Error("fresh private lists not stale: they would never be fetched")
	}
}
