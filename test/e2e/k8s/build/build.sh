#!/bin/bash
# build.sh: builds kubectl, kube-apiserver, kube-controller-manager, kube-scheduler,
# kubelet, kube-proxy, etcd and a pause process of one release from the Go module proxy
# into $K8S_CACHE/$V/bin (default ~/.cache/pktlife/k8s). k8s.io/kubernetes
# cannot be `go install`ed (its go.mod replaces k8s.io/* with ./staging), so
# this wrapper module requires it and replaces each staging module with its
# published version. Cold: ~12 min on 2 CPUs; with Go's build cache: ~10 s;
# with the binaries cached: nothing to do.
set -euo pipefail
cd "$(dirname "$0")"
V=v1.34.4
OUT=${K8S_CACHE:-$HOME/.cache/pktlife/k8s}/$V/bin
want="kubectl kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy etcd pause"
stamp=$(sha256sum go.mod go.sum tools.go etcd/main.go pause/main.go build.sh | sha256sum | cut -c1-16)
if [ -f "$OUT/.stamp" ] && [ "$(cat "$OUT/.stamp")" = "$stamp" ]; then
  echo "k8s $V: cached in $OUT"; exit 0
fi
LD="-s -w"
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  LD="$LD -X $p.gitVersion=$V -X $p.gitMajor=1 -X $p.gitMinor=34 -X $p.gitTreeState=clean -X $p.buildDate=2026-01-01T00:00:00Z"
done
mkdir -p "$OUT"
rm -f "$OUT/.stamp"
start=$(date +%s)
CGO_ENABLED=0 go build -trimpath -ldflags "$LD" -o "$OUT/" \
  k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kubectl \
  k8s.io/kubernetes/cmd/kube-controller-manager \
  k8s.io/kubernetes/cmd/kube-scheduler \
  k8s.io/kubernetes/cmd/kubelet \
  k8s.io/kubernetes/cmd/kube-proxy \
  ./etcd ./pause
for b in $want; do test -x "$OUT/$b"; done
echo "$stamp" > "$OUT/.stamp"
echo "k8s $V: built in $OUT in $(( $(date +%s) - start ))s"
