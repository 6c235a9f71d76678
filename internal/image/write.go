package image

import (
	"archive/tar"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// Annotations naming the index in an OCI layout: containerd's full
// reference, and the OCI spec's tag.
const (
	AnnotContainerdName = "io.containerd.image.name"
	AnnotRefName        = "org.opencontainers.image.ref.name"
)

// WriteOCI writes idx as an OCI image layout tarball at path, the index
// named ref, for ctr images import. Entries are sorted and dated mtime, so
// the tarball is as reproducible as idx.
func WriteOCI(path string, ref name.Tag, idx v1.ImageIndex, mtime time.Time) (err error) {
	dir, err := os.MkdirTemp("", "pktlife-oci-")
	if err != nil {
		return fmt.Errorf("create layout dir: %w", err)
	}
	defer os.RemoveAll(dir)
	lp, err := layout.Write(dir, empty.Index)
	if err != nil {
		return fmt.Errorf("write layout: %w", err)
	}
	if err := lp.AppendIndex(idx, layout.WithAnnotations(map[string]string{
		AnnotContainerdName: ContainerdName(ref),
		AnnotRefName:        ref.TagStr(),
	})); err != nil {
		return fmt.Errorf("write layout: %w", err)
	}
	return tarDir(path, dir, mtime)
}

// ContainerdName is ref as containerd's CRI looks it up, so the kubelet
// finds an imported image: Docker Hub is docker.io, not go-containerregistry's
// index.docker.io.
func ContainerdName(ref name.Tag) string {
	if ref.RegistryStr() == name.DefaultRegistry {
		return "docker.io/" + ref.RepositoryStr() + ":" + ref.TagStr()
	}
	return ref.Name()
}

// WriteDocker writes img as a docker save tarball at path, tagged ref.
func WriteDocker(path string, ref name.Tag, img v1.Image) error {
	if err := tarball.WriteToFile(path, ref, img); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// tarDir writes the files under dir into a tar at path, in lexical order
// (filepath.WalkDir's), with fixed owners, modes and times.
func tarDir(path, dir string, mtime time.Time) (err error) {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("close %s: %w", path, cerr)
		}
	}()
	tw := tar.NewWriter(f)
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		hdr := &tar.Header{Name: filepath.ToSlash(rel), ModTime: mtime.UTC(), Format: tar.FormatPAX}
		if d.IsDir() {
			hdr.Typeflag, hdr.Name, hdr.Mode = tar.TypeDir, hdr.Name+"/", 0o755
			return tw.WriteHeader(hdr)
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		hdr.Typeflag, hdr.Mode, hdr.Size = tar.TypeReg, 0o644, info.Size()
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		src, err := os.Open(p)
		if err != nil {
			return err
		}
		defer src.Close()
		_, err = io.Copy(tw, src)
		return err
	})
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
