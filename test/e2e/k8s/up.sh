#!/bin/bash
# up.sh: a one-node Kubernetes cluster on 127.0.0.1 with everything under
# $K8S_DIR: containerd, runc and the CNI plugins from Debian; etcd, the
# control plane, the kubelet and kube-proxy (iptables mode) from $K8S_BIN
# (build/build.sh). Images: every $K8S_DIR/images/*.tar is imported with
# ctr. What it changes on the host (sysctls, shared bpffs, iptables
# chains, the k8sbr0 bridge, /run/netns/cni-*) down.sh undoes.
set -euo pipefail
: "${K8S_DIR:?}" "${K8S_BIN:?}"
T=$K8S_DIR; B=$K8S_BIN; E=$T/etc; P=$E/pki; L=$T/log; R=$T/run
NODE=$(hostname)
mkdir -p "$L" "$R" "$T/var/etcd" "$T/var/kubelet" "$T/var/log/pods" "$E/cni/net.d" "$E/manifests"
export PATH=$B:$PATH
start() { local n=$1; shift; nohup "$@" > "$L/$n.log" 2>&1 & echo $! > "$R/$n.pid"; }
waitfor() { # name command [seconds]
  for _ in $(seq 1 "${3:-60}"); do if eval "$2" >/dev/null 2>&1; then return 0; fi; sleep 1; done
  echo "up: $1 not ready; last lines of $L/$1.log:" >&2; tail -20 "$L/$1.log" >&2; exit 1
}
A=$R/containerd/containerd.sock
KC="kubectl --kubeconfig $E/admin.kubeconfig"

# What down.sh restores: sysctls the kubelet, CNI and kube-proxy set, and
# whether bpffs and debugfs were mounted and /sys/fs/bpf shared.
[ -f "$R/sysctl.saved" ] || sysctl -e vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops \
  kernel.keys.root_maxkeys kernel.keys.root_maxbytes net.ipv4.ip_forward net.ipv4.conf.all.route_localnet \
  net.bridge.bridge-nf-call-iptables net.bridge.bridge-nf-call-ip6tables > "$R/sysctl.saved" 2>/dev/null || true
: > "$R/mounts.made"
mountpoint -q /sys/fs/bpf || { mount -t bpf bpf /sys/fs/bpf; echo /sys/fs/bpf >> "$R/mounts.made"; }
grep -q ' /sys/fs/bpf .*shared:' /proc/self/mountinfo || { mount --make-shared /sys/fs/bpf; echo shared >> "$R/mounts.made"; }
mountpoint -q /sys/kernel/debug || { mount -t debugfs debugfs /sys/kernel/debug; echo /sys/kernel/debug >> "$R/mounts.made"; }

cat > "$E/containerd.toml" <<TOML
version = 2
root = "$T/var/containerd"
state = "$R/containerd"
[grpc]
  address = "$A"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "docker.io/local/pause:e2e"
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        BinaryName = "/usr/sbin/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$E/cni/net.d"
TOML
cat > "$E/cni/net.d/10-bridge.conflist" <<JSON
{"cniVersion": "1.0.0", "name": "k8s-local", "plugins": [
  {"type": "bridge", "bridge": "k8sbr0", "isGateway": true, "ipMasq": false, "hairpinMode": true,
   "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.244.0.0/24"}]], "routes": [{"dst": "0.0.0.0/0"}]}},
  {"type": "loopback"}]}
JSON
cat > "$E/kubelet.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: 127.0.0.1
healthzBindAddress: 127.0.0.1
authentication: {anonymous: {enabled: false}, webhook: {enabled: true}, x509: {clientCAFile: $P/ca.crt}}
authorization: {mode: Webhook}
tlsCertFile: $P/kubelet.crt
tlsPrivateKeyFile: $P/kubelet.key
cgroupDriver: cgroupfs
containerRuntimeEndpoint: unix://$A
failSwapOn: false
failCgroupV1: false
clusterDomain: cluster.local
clusterDNS: [10.96.0.10]
resolvConf: /etc/resolv.conf
staticPodPath: $E/manifests
podCIDR: 10.244.0.0/24
serializeImagePulls: false
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}
podLogsDir: $T/var/log/pods
YAML

if ! [ -S "$A" ]; then
  start containerd containerd --config "$E/containerd.toml"
  waitfor containerd "ctr -a $A version"
fi
for img in "$T"/images/*.tar; do ctr -a "$A" -n k8s.io images import "$img" >/dev/null; done

start etcd "$B/etcd" --name local --data-dir "$T/var/etcd" \
  --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
  --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
  --listen-metrics-urls= --initial-cluster local=http://127.0.0.1:2380
waitfor etcd "curl -sf http://127.0.0.1:2379/health"

ADV=$(ip -4 route get 1.1.1.1 2>/dev/null | awk '{for(i=1;i<NF;i++) if($i=="src") print $(i+1)}')
ADV=${ADV:-127.0.0.1}
start kube-apiserver "$B/kube-apiserver" --bind-address=127.0.0.1 --secure-port=6443 --advertise-address="$ADV" \
  --etcd-servers=http://127.0.0.1:2379 --service-cluster-ip-range=10.96.0.0/16 \
  --client-ca-file="$P/ca.crt" --tls-cert-file="$P/apiserver.crt" --tls-private-key-file="$P/apiserver.key" \
  --kubelet-client-certificate="$P/apiserver-kubelet-client.crt" --kubelet-client-key="$P/apiserver-kubelet-client.key" \
  --kubelet-preferred-address-types=Hostname,InternalIP \
  --service-account-key-file="$P/sa.pub" --service-account-signing-key-file="$P/sa.key" \
  --service-account-issuer=https://kubernetes.default.svc.cluster.local \
  --authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction --allow-privileged=true
waitfor kube-apiserver "$KC get --raw /readyz" 120

start kube-controller-manager "$B/kube-controller-manager" --kubeconfig="$E/controller-manager.kubeconfig" \
  --authentication-kubeconfig="$E/controller-manager.kubeconfig" --authorization-kubeconfig="$E/controller-manager.kubeconfig" \
  --bind-address=127.0.0.1 --service-account-private-key-file="$P/sa.key" --root-ca-file="$P/ca.crt" \
  --use-service-account-credentials=true --service-cluster-ip-range=10.96.0.0/16 --leader-elect=false \
  --controllers='*,-nodeipam,-csrsigning,-csrapproving,-csrcleaner'
start kube-scheduler "$B/kube-scheduler" --kubeconfig="$E/scheduler.kubeconfig" \
  --authentication-kubeconfig="$E/scheduler.kubeconfig" --authorization-kubeconfig="$E/scheduler.kubeconfig" \
  --bind-address=127.0.0.1 --leader-elect=false
start kubelet "$B/kubelet" --config="$E/kubelet.yaml" --kubeconfig="$E/kubelet.kubeconfig" --root-dir="$T/var/kubelet" \
  --hostname-override="$NODE"
# kube-proxy, so that a Service's ClusterIP routes. --masquerade-all: a
# pod reaching a Service whose endpoint is on the same bridge gets its reply
# back through the host (no br_netfilter needed). --conntrack-max-per-core=0
# leaves the host's conntrack table size alone.
start kube-proxy "$B/kube-proxy" --kubeconfig="$E/kube-proxy.kubeconfig" --proxy-mode=iptables \
  --hostname-override="$NODE" --cluster-cidr=10.244.0.0/24 --masquerade-all \
  --bind-address=127.0.0.1 --healthz-bind-address=127.0.0.1:10256 --metrics-bind-address=127.0.0.1:10249 \
  --conntrack-max-per-core=0 --nodeport-addresses=127.0.0.1/32
waitfor kubelet "$KC wait --for=condition=Ready node/$NODE --timeout=1s" 120
waitfor kube-controller-manager "$KC -n default get serviceaccount default" 60
echo "up: node $NODE Ready"
