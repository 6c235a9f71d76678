package image

import (
	"debug/elf"
	"path/filepath"
	"testing"
)

// TestBuildStatic builds a tiny program for both architectures and checks
// the ELF machine and that it has no interpreter (static, no libc).
func TestBuildStatic(t *testing.T) {
	for arch, machine := range map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64} {
		out := filepath.Join(t.TempDir(), "hello")
		if err := Build(BuildOptions{Package: "./testdata/hello", Arch: arch, Out: out}); err != nil {
			t.Fatal(err)
		}
		f, err := elf.Open(out)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		if f.Machine != machine {
			t.Errorf("%s: machine %s, want %s", arch, f.Machine, machine)
		}
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				t.Errorf("%s: dynamically linked (PT_INTERP)", arch)
			}
		}
	}
}
