package image

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// BuildOptions says how to build the binary for one architecture.
type BuildOptions struct {
	Dir     string // where go build runs: inside the module; default "."
	Package string // the main package, e.g. ./cmd/pktlife
	Arch    string // GOARCH; the OS is always linux
	Out     string // the binary written
}

// Build builds a static (CGO_ENABLED=0), trimmed Linux binary, so the image
// needs no libc and the binary does not depend on the builder's paths.
func Build(o BuildOptions) error {
	if err := os.MkdirAll(filepath.Dir(o.Out), 0o755); err != nil {
		return fmt.Errorf("create build dir: %w", err)
	}
	out, err := filepath.Abs(o.Out)
	if err != nil {
		return fmt.Errorf("resolve %s: %w", o.Out, err)
	}
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", out, o.Package)
	cmd.Dir = o.Dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+o.Arch)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("build %s for linux/%s: %w", o.Package, o.Arch, err)
	}
	return nil
}
