// Command mkimage builds pktlife's node image offline (make image): the
// static pktlife binary for each architecture, one OCI image index written
// as an OCI layout tarball (ctr images import) and one docker save tarball
// per architecture (docker load), all under -out.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/pktlife/pktlife/internal/image"
	"github.com/pktlife/pktlife/kube"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "mkimage:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	version := flag.String("version", kube.Version, "the image's version label and default tag")
	ref := flag.String("image", "", "image reference (default "+kube.ImageRepo+":VERSION)")
	out := flag.String("out", "bin/image", "output directory")
	// arm64 waits for BPF objects generated for it (bpf/gen.go: -target amd64).
	archs := flag.String("arch", "amd64", "architectures (GOARCH), comma-separated")
	flag.Parse()
	if *ref == "" {
		*ref = kube.ImageRepo + ":" + *version
	}
	tag, err := name.NewTag(*ref)
	if err != nil {
		return fmt.Errorf("parse -image: %w", err)
	}
	created, err := sourceDate(ctx)
	if err != nil {
		return err
	}
	cfg := image.Config{
		Version:     *version,
		Revision:    gitOutput(ctx, "rev-parse", "HEAD"),
		Source:      "https://github.com/pktlife/pktlife",
		Title:       "pktlife",
		Description: "pktlife traces packets inside a Linux node; the node image of kubectl pktlife",
		Created:     created,
	}

	var bins []image.Binary
	for _, arch := range strings.Split(*archs, ",") {
		b := image.Binary{Arch: arch, Path: filepath.Join(*out, "linux-"+arch, "pktlife")}
		if err := image.Build(image.BuildOptions{
			Package: "./cmd/pktlife",
			Arch:    arch,
			Out:     b.Path,
		}); err != nil {
			return err
		}
		bins = append(bins, b)
	}
	idx, err := image.Index(bins, cfg)
	if err != nil {
		return err
	}
	ociPath := filepath.Join(*out, "pktlife-oci.tar")
	if err := image.WriteOCI(ociPath, tag, idx, created); err != nil {
		return err
	}
	digest, err := idx.Digest()
	if err != nil {
		return fmt.Errorf("digest index: %w", err)
	}
	fmt.Printf("%s\n  index %s  %s (ctr images import)\n", image.ContainerdName(tag), digest, ociPath)
	im, err := idx.IndexManifest()
	if err != nil {
		return fmt.Errorf("read index: %w", err)
	}
	for _, desc := range im.Manifests {
		img, err := idx.Image(desc.Digest)
		if err != nil {
			return fmt.Errorf("read image: %w", err)
		}
		arch := desc.Platform.Architecture
		path := filepath.Join(*out, "pktlife-linux-"+arch+".docker.tar")
		if err := image.WriteDocker(path, tag, img); err != nil {
			return err
		}
		fmt.Printf("  linux/%s %s  %s (docker load)\n", arch, desc.Digest, path)
	}
	return nil
}

// sourceDate is the image's creation time: SOURCE_DATE_EPOCH if set, else
// the commit's time, else the Unix epoch, never the clock.
func sourceDate(ctx context.Context) (time.Time, error) {
	s := os.Getenv("SOURCE_DATE_EPOCH")
	if s == "" {
		s = gitOutput(ctx, "log", "-1", "--format=%ct")
	}
	if s == "" {
		return time.Unix(0, 0).UTC(), nil
	}
	sec, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("parse SOURCE_DATE_EPOCH %q: %w", s, err)
	}
	return time.Unix(sec, 0).UTC(), nil
}

// gitOutput is git's trimmed output, or "" outside a git checkout.
func gitOutput(ctx context.Context, args ...string) string {
	b, err := exec.CommandContext(ctx, "git", args...).Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}
