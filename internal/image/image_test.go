package image

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

var testConfig = Config{
	Version:     "v0.0.1-test",
	Revision:    "0123456789abcdef0123456789abcdef01234567",
	Source:      "https://github.com/pktlife/pktlife",
	Title:       "pktlife",
	Description: "test image",
	Created:     time.Unix(1700000000, 0).UTC(),
}

// fakeBinaries writes one fake binary per architecture, whose content
// names the architecture.
func fakeBinaries(t *testing.T, archs ...string) []Binary {
	t.Helper()
	var bins []Binary
	for _, arch := range archs {
		p := filepath.Join(t.TempDir(), "pktlife")
		if err := os.WriteFile(p, []byte("fake pktlife for "+arch), 0o600); err != nil {
			t.Fatal(err)
		}
		bins = append(bins, Binary{Arch: arch, Path: p})
	}
	return bins
}

func testIndex(t *testing.T) v1.ImageIndex {
	t.Helper()
	idx, err := Index(fakeBinaries(t, "amd64", "arm64"), testConfig)
	if err != nil {
		t.Fatal(err)
	}
	return idx
}

func TestIndexPlatformsAndConfig(t *testing.T) {
	idx := testIndex(t)
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if im.MediaType != "application/vnd.oci.image.index.v1+json" {
		t.Errorf("index media type %s", im.MediaType)
	}
	var got []string
	for _, desc := range im.Manifests {
		got = append(got, desc.Platform.String())
		img, err := idx.Image(desc.Digest)
		if err != nil {
			t.Fatal(err)
		}
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if cf.OS != "linux" || cf.Architecture != desc.Platform.Architecture {
			t.Errorf("config platform %s/%s, descriptor %s", cf.OS, cf.Architecture, desc.Platform)
		}
		if len(cf.Config.Entrypoint) != 1 || cf.Config.Entrypoint[0] != "/pktlife" {
			t.Errorf("entrypoint %q", cf.Config.Entrypoint)
		}
		if !cf.Created.Equal(testConfig.Created) {
			t.Errorf("created %s, want %s", cf.Created, testConfig.Created)
		}
		for k, want := range map[string]string{
			"org.opencontainers.image.source":   testConfig.Source,
			"org.opencontainers.image.version":  testConfig.Version,
			"org.opencontainers.image.revision": testConfig.Revision,
			"org.opencontainers.image.title":    testConfig.Title,
		} {
			if cf.Config.Labels[k] != want {
				t.Errorf("label %s = %q, want %q", k, cf.Config.Labels[k], want)
			}
		}
		if _, ok := cf.Config.Labels["org.opencontainers.image.licenses"]; ok {
			t.Error("licenses label without a license")
		}
		checkLayer(t, img, "fake pktlife for "+desc.Platform.Architecture)
	}
	if len(got) != 2 || got[0] != "linux/amd64" || got[1] != "linux/arm64" {
		t.Errorf("platforms %q, want linux/amd64 and linux/arm64", got)
	}
}

// checkLayer checks that img has one layer holding exactly the binary at
// /pktlife, mode 0755, owned by root.
func checkLayer(t *testing.T, img v1.Image, want string) {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	if len(layers) != 1 {
		t.Fatalf("%d layers, want 1", len(layers))
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	var n int
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		n++
		if hdr.Name != "pktlife" || hdr.Typeflag != tar.TypeReg || hdr.Mode != 0o755 || hdr.Uid != 0 || hdr.Gid != 0 {
			t.Errorf("layer entry %q type %c mode %o uid %d gid %d", hdr.Name, hdr.Typeflag, hdr.Mode, hdr.Uid, hdr.Gid)
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if string(body) != want {
			t.Errorf("binary %q, want %q", body, want)
		}
	}
	if n != 1 {
		t.Errorf("%d layer entries, want 1", n)
	}
}

func TestWriteDockerNamesTag(t *testing.T) {
	idx := testIndex(t)
	img, err := idx.Image(mustManifest(t, idx, 0).Digest)
	if err != nil {
		t.Fatal(err)
	}
	tag := testTag(t)
	path := filepath.Join(t.TempDir(), "docker.tar")
	if err := WriteDocker(path, tag, img); err != nil {
		t.Fatal(err)
	}
	var m tarball.Manifest
	if err := json.Unmarshal(tarEntry(t, path, "manifest.json"), &m); err != nil {
		t.Fatal(err)
	}
	if len(m) != 1 || len(m[0].RepoTags) != 1 || m[0].RepoTags[0] != "local/pktlife:dev" {
		t.Errorf("manifest.json %+v, want one image tagged local/pktlife:dev", m)
	}
	back, err := tarball.ImageFromPath(path, &tag)
	if err != nil {
		t.Fatal(err)
	}
	checkLayer(t, back, "fake pktlife for amd64")
}

func TestWriteOCINamesIndex(t *testing.T) {
	idx := testIndex(t)
	path := filepath.Join(t.TempDir(), "oci.tar")
	if err := WriteOCI(path, testTag(t), idx, testConfig.Created); err != nil {
		t.Fatal(err)
	}
	var lay struct{ ImageLayoutVersion string }
	if err := json.Unmarshal(tarEntry(t, path, "oci-layout"), &lay); err != nil || lay.ImageLayoutVersion != "1.0.0" {
		t.Errorf("oci-layout: %+v, %v", lay, err)
	}
	var top v1.IndexManifest
	if err := json.Unmarshal(tarEntry(t, path, "index.json"), &top); err != nil {
		t.Fatal(err)
	}
	digest, err := idx.Digest()
	if err != nil {
		t.Fatal(err)
	}
	if len(top.Manifests) != 1 || top.Manifests[0].Digest != digest {
		t.Fatalf("index.json %+v, want the index %s", top, digest)
	}
	ann := top.Manifests[0].Annotations
	if ann[AnnotContainerdName] != "docker.io/local/pktlife:dev" {
		t.Errorf("%s = %q", AnnotContainerdName, ann[AnnotContainerdName])
	}
	if ann[AnnotRefName] != "dev" {
		t.Errorf("%s = %q, want dev", AnnotRefName, ann[AnnotRefName])
	}
	blob := tarEntry(t, path, "blobs/sha256/"+digest.Hex)
	if len(blob) == 0 {
		t.Error("index blob missing")
	}
}

// TestReproducible builds everything twice from the same binaries and
// config: the digests and the written bytes must match.
func TestReproducible(t *testing.T) {
	bins := fakeBinaries(t, "amd64", "arm64")
	tag := testTag(t)
	var oci, docker [2][]byte
	var digests [2]v1.Hash
	for i := range 2 {
		idx, err := Index(bins, testConfig)
		if err != nil {
			t.Fatal(err)
		}
		if digests[i], err = idx.Digest(); err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		if err := WriteOCI(filepath.Join(dir, "oci.tar"), tag, idx, testConfig.Created); err != nil {
			t.Fatal(err)
		}
		img, err := idx.Image(mustManifest(t, idx, 1).Digest)
		if err != nil {
			t.Fatal(err)
		}
		if err := WriteDocker(filepath.Join(dir, "docker.tar"), tag, img); err != nil {
			t.Fatal(err)
		}
		oci[i], docker[i] = readFile(t, filepath.Join(dir, "oci.tar")), readFile(t, filepath.Join(dir, "docker.tar"))
	}
	if digests[0] != digests[1] {
		t.Errorf("index digests differ: %s, %s", digests[0], digests[1])
	}
	if !bytes.Equal(oci[0], oci[1]) {
		t.Error("OCI tarballs differ")
	}
	if !bytes.Equal(docker[0], docker[1]) {
		t.Error("docker tarballs differ")
	}
}

func testTag(t *testing.T) name.Tag {
	t.Helper()
	tag, err := name.NewTag("local/pktlife:dev")
	if err != nil {
		t.Fatal(err)
	}
	return tag
}

func mustManifest(t *testing.T, idx v1.ImageIndex, i int) v1.Descriptor {
	t.Helper()
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	return im.Manifests[i]
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// tarEntry is the content of the entry named name in the tar at path.
func tarEntry(t *testing.T, path, name string) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			t.Fatalf("%s: no entry %s", path, name)
		}
		if err != nil {
			t.Fatal(err)
		}
		if hdr.Name == name {
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
	}
}

func TestContainerdName(t *testing.T) {
	for ref, want := range map[string]string{
		"ghcr.io/pktlife/pktlife:v0.1.0": "ghcr.io/pktlife/pktlife:v0.1.0",
		"local/pktlife:dev":              "docker.io/local/pktlife:dev",
		"pktlife":                        "docker.io/library/pktlife:latest",
		"localhost:5000/pktlife:dev":     "localhost:5000/pktlife:dev",
	} {
		tag, err := name.NewTag(ref)
		if err != nil {
			t.Fatal(err)
		}
		if got := ContainerdName(tag); got != want {
			t.Errorf("ContainerdName(%s) = %s, want %s", ref, got, want)
		}
	}
}
