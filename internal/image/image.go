package image

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// BinaryPath is where the binary lives in the image, and its entrypoint.
const BinaryPath = "/pktlife"

// Config is what every image carries besides its binary.
type Config struct {
	Version     string    // org.opencontainers.image.version
	Revision    string    // git commit; no label when empty
	Source      string    // org.opencontainers.image.source
	Title       string    // org.opencontainers.image.title
	Description string    // org.opencontainers.image.description
	Licenses    string    // SPDX expression; no label when empty
	Created     time.Time // SOURCE_DATE_EPOCH or the commit's time, for reproducible digests
}

// Labels are the image config's OCI annotations.
func (c Config) Labels() map[string]string {
	l := map[string]string{
		"org.opencontainers.image.created":     c.Created.UTC().Format(time.RFC3339),
		"org.opencontainers.image.version":     c.Version,
		"org.opencontainers.image.source":      c.Source,
		"org.opencontainers.image.title":       c.Title,
		"org.opencontainers.image.description": c.Description,
		"org.opencontainers.image.revision":    c.Revision,
		"org.opencontainers.image.licenses":    c.Licenses,
	}
	for k, v := range l {
		if v == "" {
			delete(l, k)
		}
	}
	return l
}

// Binary is a Linux binary for one architecture (GOARCH spelling).
type Binary struct {
	Arch string
	Path string
}

// Index makes one image per binary and gathers them in an OCI image index,
// in the order given.
func Index(bins []Binary, c Config) (v1.ImageIndex, error) {
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, b := range bins {
		data, err := os.ReadFile(b.Path)
		if err != nil {
			return nil, fmt.Errorf("read binary: %w", err)
		}
		img, err := Image(data, b.Arch, c)
		if err != nil {
			return nil, err
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add:        img,
			Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: b.Arch}},
		})
	}
	return idx, nil
}

// Image is a scratch image for linux/arch whose one file is bin at
// BinaryPath, run as root (the node pod is privileged anyway).
func Image(bin []byte, arch string, c Config) (v1.Image, error) {
	layer, err := binaryLayer(bin, c.Created)
	if err != nil {
		return nil, err
	}
	created := v1.Time{Time: c.Created.UTC()}
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err = mutate.Append(img, mutate.Addendum{
		Layer:     layer,
		MediaType: types.OCILayer,
		History:   v1.History{Created: created, CreatedBy: "pktlife internal/image: " + BinaryPath},
	})
	if err != nil {
		return nil, fmt.Errorf("add layer: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Created = "linux", arch, created
	cf.Config = v1.Config{
		Entrypoint: []string{BinaryPath},
		User:       "0",
		WorkingDir: "/",
		// The node pod's command is "pktlife", found through PATH.
		Env:    []string{"PATH=/"},
		Labels: c.Labels(),
	}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, fmt.Errorf("set config: %w", err)
	}
	return img, nil
}

// binaryLayer is a gzipped tar of one entry, the binary at BinaryPath,
// mode 0755, owned by root, dated mtime.
func binaryLayer(bin []byte, mtime time.Time) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	hdr := &tar.Header{
		Typeflag: tar.TypeReg,
		Name:     BinaryPath[1:],
		Mode:     0o755,
		Size:     int64(len(bin)),
		ModTime:  mtime.UTC(),
		Format:   tar.FormatPAX,
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return nil, fmt.Errorf("write layer: %w", err)
	}
	if _, err := tw.Write(bin); err != nil {
		return nil, fmt.Errorf("write layer: %w", err)
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("write layer: %w", err)
	}
	data := buf.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, fmt.Errorf("make layer: %w", err)
	}
	return layer, nil
}
