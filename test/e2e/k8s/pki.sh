#!/bin/bash
# pki.sh: the CA, certificates and kubeconfigs of a one-node cluster on
# 127.0.0.1 under $K8S_DIR/etc (openssl). Users: admin (system:masters),
# the control plane's components, the kubelet, kube-proxy, and "nobody", a
# user no RBAC rule names.
set -euo pipefail
: "${K8S_DIR:?}"
P=$K8S_DIR/etc/pki; K=$K8S_DIR/etc
NODE=${NODE:-$(hostname)}
mkdir -p "$P"; cd "$P"
[ -f ca.key ] || {
  openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 30 -subj "/CN=pktlife-e2e-ca" 2>/dev/null
  openssl genrsa -out sa.key 2048 2>/dev/null; openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
}
cert() { # name CN O [SANs]
  local n=$1 cn=$2 o=$3 san=${4:-}
  local ext="basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth,clientAuth"
  [ -n "$san" ] && ext="$ext
subjectAltName=$san"
  openssl req -newkey rsa:2048 -nodes -keyout "$n.key" -out "$n.csr" -subj "/CN=$cn${o:+/O=$o}" 2>/dev/null
  openssl x509 -req -in "$n.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -out "$n.crt" -days 30 -extfile <(echo "$ext") 2>/dev/null
  rm -f "$n.csr"
}
cert apiserver kube-apiserver "" "DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,IP:127.0.0.1,IP:10.96.0.1"
cert apiserver-kubelet-client kube-apiserver-kubelet-client system:masters
cert admin kubernetes-admin system:masters
cert controller-manager system:kube-controller-manager ""
cert scheduler system:kube-scheduler ""
cert kubelet "system:node:$NODE" system:nodes "DNS:$NODE,DNS:localhost,IP:127.0.0.1"
cert kube-proxy system:kube-proxy ""
cert nobody nobody ""
kc() { # file user cert
  cat > "$K/$1" <<KC
apiVersion: v1
kind: Config
clusters:
- name: local
  cluster: {server: "https://127.0.0.1:6443", certificate-authority: $P/ca.crt}
users:
- name: $2
  user: {client-certificate: $P/$3.crt, client-key: $P/$3.key}
contexts:
- name: local
  context: {cluster: local, user: $2}
current-context: local
KC
}
kc admin.kubeconfig admin admin
kc controller-manager.kubeconfig cm controller-manager
kc scheduler.kubeconfig scheduler scheduler
kc kubelet.kubeconfig kubelet kubelet
kc kube-proxy.kubeconfig kube-proxy kube-proxy
kc nobody.kubeconfig nobody nobody
