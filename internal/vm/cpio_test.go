package vm

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
)

type cpioEntry struct {
	mode   uint32
	data   string
	rmajor uint32
	rminor uint32
}

// readCPIO parses newc archives (several, concatenated) independently of
// the writer.
func readCPIO(t *testing.T, b []byte) map[string]cpioEntry {
	t.Helper()
	out := make(map[string]cpioEntry)
	align := func(n int) int { return (n + 3) &^ 3 }
	for off := 0; off < len(b); {
		if b[off] == 0 {
			off++
			continue
		}
		if string(b[off:off+6]) != "070701" {
			t.Fatalf("bad magic at %d: %q", off, b[off:off+6])
		}
		field := func(i int) uint32 {
			v, err := strconv.ParseUint(string(b[off+6+8*i:off+14+8*i]), 16, 32)
			if err != nil {
				t.Fatalf("parse header field %d at %d: %v", i, off, err)
			}
			return uint32(v)
		}
		mode, size, rmaj, rmin, nameSize := field(1), int(field(6)), field(9), field(10), int(field(11))
		name := string(b[off+110 : off+110+nameSize-1])
		dataOff := align(off + 110 + nameSize)
		off = align(dataOff + size)
		if name == "TRAILER!!!" {
			continue
		}
		out[name] = cpioEntry{mode: mode, data: string(b[dataOff : dataOff+size]), rmajor: rmaj, rminor: rmin}
	}
	return out
}

func TestCPIOWriter(t *testing.T) {
	src := t.TempDir()
	if err := os.MkdirAll(filepath.Join(src, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "sub", "f.txt"), []byte("hello"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("sub/f.txt", filepath.Join(src, "link")); err != nil {
		t.Fatal(err)
	}

	var buf bytes.Buffer
	for i, fill := range []func(c *cpioWriter) error{
		func(c *cpioWriter) error {
			if err := c.WriteBytes("/a/b/c", 0o755, []byte("abc")); err != nil {
				return err
			}
			if err := c.CharDev("dev/console", 0o600, 5, 1); err != nil {
				return err
			}
			return c.CopyTree("tree", src)
		},
		func(c *cpioWriter) error { return c.WriteBytes("a/b/c", 0o644, []byte("second")) },
	} {
		c := newCPIOWriter(&buf)
		if err := fill(c); err != nil {
			t.Fatalf("archive %d: %v", i, err)
		}
		if err := c.Close(); err != nil {
			t.Fatalf("archive %d: %v", i, err)
		}
		if buf.Len()%4 != 0 {
			t.Fatalf("archive %d ends at %d, not 4-aligned", i, buf.Len())
		}
	}

	got := readCPIO(t, buf.Bytes())
	want := map[string]cpioEntry{
		"a":              {mode: 0o040755},
		"a/b":            {mode: 0o040755},
		"a/b/c":          {mode: 0o100644, data: "second"}, // the later archive wins
		"dev":            {mode: 0o040755},
		"dev/console":    {mode: 0o020600, rmajor: 5, rminor: 1},
		"tree":           {mode: 0o040755},
		"tree/sub":       {mode: 0o040755},
		"tree/sub/f.txt": {mode: 0o100640, data: "hello"},
		"tree/link":      {mode: 0o120777, data: "sub/f.txt"},
	}
	for name, w := range want {
		if g, ok := got[name]; !ok || g != w {
			t.Errorf("%s: got %+v (present %v), want %+v", name, g, ok, w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("archive has %d entries, want %d: %v", len(got), len(want), got)
	}

	// busybox, which the VM uses anyway, must read it too.
	bb, err := exec.LookPath("busybox")
	if err != nil {
		t.Skip("no busybox on the host to cross-check with")
	}
	dst := t.TempDir()
	cmd := exec.Command(bb, "cpio", "-id")
	cmd.Dir, cmd.Stdin = dst, bytes.NewReader(buf.Bytes())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("busybox cpio: %v: %s", err, out)
	}
	for name, content := range map[string]string{"a/b/c": "abc", "tree/sub/f.txt": "hello", "tree/link": "hello"} {
		b, err := os.ReadFile(filepath.Join(dst, name))
		if err != nil || string(b) != content {
			t.Errorf("busybox extracted %s as %q (%v), want %q", name, b, err, content)
		}
	}
}
