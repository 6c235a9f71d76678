#!/bin/bash
# mkimage.sh REPO:TAG BINARY OUT.tar: a one-layer image (the format
# `docker save` writes) whose only file is /<basename BINARY>, its
# entrypoint. For the e2e cluster's sandbox and workload images.
set -euo pipefail
ref=$1 bin=$2 out=$3
name=$(basename "$bin")
w=$(mktemp -d); trap 'rm -rf "$w"' EXIT
mkdir -p "$w/root" "$w/img"
install -m 0755 "$bin" "$w/root/$name"
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$w/root" -cf "$w/layer.tar" .
diff=$(sha256sum "$w/layer.tar" | cut -d' ' -f1)
mkdir -p "$w/img/$diff"; mv "$w/layer.tar" "$w/img/$diff/layer.tar"
cat > "$w/config.json" <<JSON
{"architecture":"amd64","os":"linux","created":"1970-01-01T00:00:00Z","config":{"Entrypoint":["/$name"],"Env":["PATH=/"],"WorkingDir":"/"},"rootfs":{"type":"layers","diff_ids":["sha256:$diff"]}}
JSON
cfg=$(sha256sum "$w/config.json" | cut -d' ' -f1)
mv "$w/config.json" "$w/img/$cfg.json"
printf '[{"Config":"%s.json","RepoTags":["%s"],"Layers":["%s/layer.tar"]}]\n' "$cfg" "$ref" "$diff" > "$w/img/manifest.json"
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$w/img" -cf "$out" .
