package vm

import (
	"bufio"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
)

// cpioWriter writes an uncompressed "newc" cpio archive, the format the
// kernel unpacks as an initramfs. Parent directories are created on demand,
// so callers only name the files they care about. Several archives may be
// concatenated: the kernel unpacks them in order, later entries replacing
// earlier ones.
type cpioWriter struct {
	w    *bufio.Writer
	n    int64 // bytes written, for padding
	ino  uint32
	dirs map[string]bool
}

func newCPIOWriter(w io.Writer) *cpioWriter {
	return &cpioWriter{w: bufio.NewWriterSize(w, 1<<20), ino: 1, dirs: map[string]bool{"": true, ".": true, "/": true}}
}

// header writes one entry header and its name. name is archive-relative
// without a leading slash.
func (c *cpioWriter) header(name string, mode uint32, size int64, rdevMajor, rdevMinor uint32) error {
	name = strings.TrimPrefix(path.Clean("/"+name), "/")
	c.ino++
	hdr := fmt.Sprintf("070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		c.ino, mode, 0, 0, 1, 0, size, 0, 0, rdevMajor, rdevMinor, len(name)+1, 0)
	if _, err := io.WriteString(c, hdr); err != nil {
		return err
	}
	if _, err := io.WriteString(c, name+"\x00"); err != nil {
		return err
	}
	return c.pad()
}

func (c *cpioWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

func (c *cpioWriter) pad() error {
	if r := c.n % 4; r != 0 {
		_, err := c.Write(make([]byte, 4-r))
		return err
	}
	return nil
}

// Mkdir creates name and any missing parents.
func (c *cpioWriter) Mkdir(name string) error {
	name = strings.TrimPrefix(path.Clean("/"+name), "/")
	if c.dirs[name] {
		return nil
	}
	if err := c.Mkdir(path.Dir(name)); err != nil {
		return err
	}
	c.dirs[name] = true
	if err := c.header(name, 0o040755, 0, 0, 0); err != nil {
		return fmt.Errorf("write directory %s: %w", name, err)
	}
	return nil
}

// WriteBytes adds a regular file holding data.
func (c *cpioWriter) WriteBytes(name string, perm fs.FileMode, data []byte) error {
	if err := c.Mkdir(path.Dir(name)); err != nil {
		return err
	}
	if err := c.header(name, 0o100000|uint32(perm.Perm()), int64(len(data)), 0, 0); err != nil {
		return fmt.Errorf("write file %s: %w", name, err)
	}
	if _, err := c.Write(data); err != nil {
		return fmt.Errorf("write file %s: %w", name, err)
	}
	return c.pad()
}

// CopyFile adds the host file src (symlinks followed) as name, keeping its
// permission bits.
func (c *cpioWriter) CopyFile(name, src string) error {
	f, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("open %s: %w", src, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("stat %s: %w", src, err)
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("copy %s: not a regular file", src)
	}
	return c.copyReader(name, st.Mode().Perm(), st.Size(), f)
}

func (c *cpioWriter) copyReader(name string, perm fs.FileMode, size int64, r io.Reader) error {
	if err := c.Mkdir(path.Dir(name)); err != nil {
		return err
	}
	if err := c.header(name, 0o100000|uint32(perm), size, 0, 0); err != nil {
		return fmt.Errorf("write file %s: %w", name, err)
	}
	n, err := io.Copy(c, io.LimitReader(r, size))
	if err != nil {
		return fmt.Errorf("copy file %s: %w", name, err)
	}
	if n != size {
		return fmt.Errorf("copy file %s: short read (%d of %d bytes)", name, n, size)
	}
	return c.pad()
}

// Symlink adds name pointing at target.
func (c *cpioWriter) Symlink(name, target string) error {
	if err := c.Mkdir(path.Dir(name)); err != nil {
		return err
	}
	if err := c.header(name, 0o120777, int64(len(target)), 0, 0); err != nil {
		return fmt.Errorf("write symlink %s: %w", name, err)
	}
	if _, err := io.WriteString(c, target); err != nil {
		return fmt.Errorf("write symlink %s: %w", name, err)
	}
	return c.pad()
}

// CharDev adds a character device node.
func (c *cpioWriter) CharDev(name string, perm fs.FileMode, major, minor uint32) error {
	if err := c.Mkdir(path.Dir(name)); err != nil {
		return err
	}
	if err := c.header(name, 0o020000|uint32(perm), 0, major, minor); err != nil {
		return fmt.Errorf("write device %s: %w", name, err)
	}
	return nil
}

// CopyTree adds the host directory src as name: directories, regular files
// and symlinks (kept as links).
func (c *cpioWriter) CopyTree(name, src string) error {
	return fs.WalkDir(os.DirFS(src), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("walk %s: %w", src, err)
		}
		dst := path.Join(name, p)
		host := path.Join(src, p)
		switch t := d.Type(); {
		case t.IsDir():
			return c.Mkdir(dst)
		case t&fs.ModeSymlink != 0:
			target, err := os.Readlink(host)
			if err != nil {
				return fmt.Errorf("read link %s: %w", host, err)
			}
			return c.Symlink(dst, target)
		case t.IsRegular():
			return c.CopyFile(dst, host)
		default:
			return nil // sockets, fifos, devices: not for a test's testdata
		}
	})
}

// Close writes the trailer and flushes; it does not close the underlying
// writer.
func (c *cpioWriter) Close() error {
	if err := c.header("TRAILER!!!", 0, 0, 0, 0); err != nil {
		return fmt.Errorf("write cpio trailer: %w", err)
	}
	if err := c.w.Flush(); err != nil {
		return fmt.Errorf("flush cpio: %w", err)
	}
	return nil
}
