package vm

import (
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// ErrNotStatic is returned for a test binary that needs a dynamic loader,
// which the VM does not have.
var ErrNotStatic = errors.New("binary is dynamically linked")

// EnvRelease is set inside the VM to the kernel's release (uname -r).
const EnvRelease = "PKTLIFE_VM"

// checkStatic makes sure bin is an x86-64 ELF executable without a dynamic
// loader.
func checkStatic(bin string) error {
	f, err := elf.Open(bin)
	if err != nil {
		return fmt.Errorf("open %s: %w", bin, err)
	}
	defer f.Close()
	if f.Machine != elf.EM_X86_64 {
		return fmt.Errorf("check %s: built for %s, the VM is x86-64", bin, f.Machine)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			interp, _ := io.ReadAll(p.Open())
			return fmt.Errorf("check %s: %w (interpreter %s); build it with CGO_ENABLED=0",
				bin, ErrNotStatic, strings.TrimRight(string(interp), "\x00"))
		}
	}
	return nil
}

var envNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// shellQuote quotes s for /bin/sh.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// runScript is the shell fragment init sources before running the test: the
// environment and the command line.
func runScript(bin string, args, env []string) (string, error) {
	var b strings.Builder
	for _, kv := range env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || !envNameRE.MatchString(k) {
			return "", fmt.Errorf("set VM environment: malformed %q", kv)
		}
		fmt.Fprintf(&b, "export %s=%s\n", k, shellQuote(v))
	}
	b.WriteString("set --")
	for _, a := range append([]string{bin}, args...) {
		b.WriteString(" " + shellQuote(a))
	}
	b.WriteString("\n")
	return b.String(), nil
}

// writePayload writes the per-run archive: the test binary, the host
// package's testdata/ (if dir has one) and the run script, all under /work.
func writePayload(w io.Writer, bin string, args, env []string, dir string) error {
	c := newCPIOWriter(w)
	guestBin := "/work/" + filepath.Base(bin)
	script, err := runScript(guestBin, args, env)
	if err != nil {
		return err
	}
	if err := c.CopyFile(guestBin, bin); err != nil {
		return err
	}
	if dir != "" {
		td := filepath.Join(dir, "testdata")
		if st, err := os.Stat(td); err == nil && st.IsDir() {
			if err := c.CopyTree("work/testdata", td); err != nil {
				return err
			}
		}
	}
	if err := c.WriteBytes("etc/pktlife/run", 0o644, []byte(script)); err != nil {
		return err
	}
	return c.Close()
}
