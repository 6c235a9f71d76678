package vm

import (
	"bytes"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestCompareDebVersions(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"6.1.192-2", "6.1.192-2", 0},
		{"6.1.192-2", "6.1.176-1", 1},
		{"6.1.99-1", "6.1.100-1", -1},
		{"6.12.117-1~deb12u1", "6.12.117-1", -1}, // '~' sorts before the end
		{"6.12.117-1~deb12u1", "6.12.115-1~deb12u1", 1},
		{"1:1.0", "2.0", 1},  // epoch first
		{"1.0a", "1.0+", -1}, // letters before other characters
		{"1.0-1", "1.0-1.1", -1},
		{"007", "7", 0},
	} {
		if got := compareDebVersions(tc.a, tc.b); got != tc.want {
			t.Errorf("compare(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
		if got := compareDebVersions(tc.b, tc.a); got != -tc.want {
			t.Errorf("compare(%q, %q) = %d, want %d", tc.b, tc.a, got, -tc.want)
		}
	}
}

func TestImageRE(t *testing.T) {
	for _, tc := range []struct {
		series, name string
		want         bool
	}{
		{"6.1", "linux-image-6.1.0-56-amd64", true},
		{"6.1", "linux-image-6.1.0-56-amd64-unsigned", false},
		{"6.1", "linux-image-6.1.0-56-cloud-amd64", false},
		{"6.1", "linux-image-6.12.117+deb12-amd64", false},
		{"6.12", "linux-image-6.12.117+deb12-amd64", true},
		{"6.12", "linux-image-6.12.117+deb12-rt-amd64", false},
		{"6.12", "linux-image-6.12.117+deb12-amd64-dbg", false},
		{"6.12", "linux-image-6.12-amd64", false}, // the meta-package
	} {
		if got := imageRE(tc.series).MatchString(tc.name); got != tc.want {
			t.Errorf("series %s, %s: match %v, want %v", tc.series, tc.name, got, tc.want)
		}
	}
}

func TestStreamMarkers(t *testing.T) {
	guest, host := net.Pipe()
	go func() {
		guest.Write([]byte("vm-init: early\nPKTLIFE-VM-READY\n=== RUN TestX\n"))
		guest.Write([]byte("no newline at the endPKTLIFE-VM-EXIT=3\n"))
		guest.Close()
	}()
	var out bytes.Buffer
	seen := make(chan struct{})
	s := stream(host, &out, time.Now(), seen)
	if want := "vm-init: early\n=== RUN TestX\nno newline at the end"; out.String() != want {
		t.Errorf("output %q, want %q", out.String(), want)
	}
	if s.exitCode != 3 {
		t.Errorf("exit code %d, want 3", s.exitCode)
	}
	if s.boot <= 0 {
		t.Errorf("boot time %v, want > 0", s.boot)
	}
	select {
	case <-seen:
	default:
		t.Error("exit marker not signalled")
	}
}

func TestStreamWithoutExit(t *testing.T) {
	guest, host := net.Pipe()
	go func() {
		guest.Write([]byte("PKTLIFE-VM-READY\npanic: half"))
		guest.Close()
	}()
	var out bytes.Buffer
	s := stream(host, &out, time.Now(), make(chan struct{}))
	if out.String() != "panic: half" || s.exitCode != -1 {
		t.Errorf("got %q, exit %d; want the partial line and -1", out.String(), s.exitCode)
	}
}

func TestRunScriptQuoting(t *testing.T) {
	args := []string{"-test.run=^TestA$", "two words", "it's", `$HOME "x"`, ""}
	script, err := runScript("/bin/printf", append([]string{`%s|`}, args...), []string{"PKTLIFE_X=a'b c"})
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), "run")
	if err := os.WriteFile(f, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("sh", "-c", `. "$0"; "$@"; printf '%s' "$PKTLIFE_X"`, f).CombinedOutput()
	if err != nil {
		t.Fatalf("sh: %v: %s", err, out)
	}
	if want := strings.Join(args, "|") + "|a'b c"; string(out) != want {
		t.Errorf("got %q, want %q", out, want)
	}
	if _, err := runScript("/x", nil, []string{"BAD-NAME=1"}); err == nil {
		t.Error("runScript accepted a malformed variable name")
	}
}

func TestParseLdd(t *testing.T) {
	out := "\tlinux-vdso.so.1 (0x00007ffd)\n" +
		"\tlibbpf.so.1 => /lib/x86_64-linux-gnu/libbpf.so.1 (0x00007f)\n" +
		"\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f)\n" +
		"\t/lib64/ld-linux-x86-64.so.2 (0x00007f)\n"
	got := strings.Join(parseLdd(out), " ")
	want := "/lib/x86_64-linux-gnu/libbpf.so.1 /lib/x86_64-linux-gnu/libc.so.6 /lib64/ld-linux-x86-64.so.2"
	if got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestCheckStatic(t *testing.T) {
	if runtime.GOARCH != "amd64" || os.Getenv(EnvRelease) != "" {
		t.Skip("host-side test: builds x86-64 binaries with the go tool")
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "main.go")
	if err := os.WriteFile(src, []byte("package main\nimport \"os/user\"\nfunc main() { user.Current() }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	build := func(cgo string) string {
		bin := filepath.Join(dir, "bin-cgo"+cgo)
		cmd := exec.Command("go", "build", "-o", bin, src)
		cmd.Env = append(os.Environ(), "CGO_ENABLED="+cgo)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build: %v: %s", err, out)
		}
		return bin
	}
	if err := checkStatic(build("0")); err != nil {
		t.Errorf("static binary: %v", err)
	}
	if _, err := exec.LookPath("gcc"); err != nil {
		return // no cgo here: nothing dynamic to build
	}
	if err := checkStatic(build("1")); !errors.Is(err, ErrNotStatic) {
		t.Errorf("cgo binary: got %v, want ErrNotStatic", err)
	}
}

func TestConsoleExcerpt(t *testing.T) {
	var lines []string
	for i := 0; i < 60; i++ {
		lines = append(lines, "noise")
	}
	lines = append(lines, "[ 3.9] Kernel panic - not syncing: sysrq triggered crash", "[ 3.9] Call Trace:")
	got := consoleExcerpt(strings.Join(lines, "\n"))
	if !strings.HasPrefix(got, "[ 3.9] Kernel panic") || !strings.HasSuffix(got, "Call Trace:") {
		t.Errorf("excerpt does not start at the panic:\n%s", got)
	}
	if got := consoleExcerpt(strings.Repeat("x\n", 100)); strings.Count(got, "\n") != 39 {
		t.Errorf("plain console: %d lines, want 40", strings.Count(got, "\n")+1)
	}
}
