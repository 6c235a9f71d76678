#!/bin/bash
# down.sh: stops what up.sh started under $K8S_DIR and undoes its changes
# to the host: pods' sandboxes and netns, the k8sbr0 bridge, CNI state,
# kubepods cgroups, the KUBE-* iptables chains of the kubelet and
# kube-proxy, sysctls, and the bpffs/debugfs mounts and sharing it made.
# Keeps $K8S_DIR/etc and the cached binaries. Safe to run twice.
: "${K8S_DIR:?}"
T=$K8S_DIR; R=$T/run; E=$T/etc; A=$R/containerd/containerd.sock
[ -n "${K8S_BIN:-}" ] && export PATH=$K8S_BIN:$PATH
KC="kubectl --kubeconfig $E/admin.kubeconfig"
alive() { [ -f "$R/$1.pid" ] && kill -0 "$(cat "$R/$1.pid")" 2>/dev/null; }
if alive kubelet && alive kube-apiserver; then
  $KC delete pods --all -A --grace-period=1 --wait=true --timeout=60s >/dev/null 2>&1
  sleep 2   # the kubelet stops the sandboxes (CNI DEL)
fi
for n in kube-proxy kubelet kube-scheduler kube-controller-manager kube-apiserver etcd; do
  alive $n && kill "$(cat "$R/$n.pid")"
done
sleep 1
if [ -S "$A" ]; then   # what the kubelet left
  for t in $(ctr -a "$A" -n k8s.io tasks ls -q 2>/dev/null); do ctr -a "$A" -n k8s.io tasks kill -s KILL "$t" 2>/dev/null; done
  sleep 1
  for t in $(ctr -a "$A" -n k8s.io tasks ls -q 2>/dev/null); do ctr -a "$A" -n k8s.io tasks delete -f "$t" >/dev/null 2>&1; done
  for c in $(ctr -a "$A" -n k8s.io containers ls -q 2>/dev/null); do ctr -a "$A" -n k8s.io containers rm "$c" >/dev/null 2>&1; done
fi
alive containerd && kill "$(cat "$R/containerd.pid")"
for _ in $(seq 1 20); do
  a=0; for n in kube-proxy kubelet kube-scheduler kube-controller-manager kube-apiserver etcd containerd; do alive $n && a=1; done
  [ $a = 0 ] && break; sleep 1
done
for n in kube-proxy kubelet kube-scheduler kube-controller-manager kube-apiserver etcd containerd; do
  alive $n && kill -9 "$(cat "$R/$n.pid")"; rm -f "$R/$n.pid"
done
for _ in $(seq 1 10); do pgrep -f -- "-address $A" >/dev/null || break; sleep 1; done
# pod network namespaces, CNI state, the bridge
for ns in $(ls /run/netns 2>/dev/null | grep '^cni-'); do ip netns delete "$ns"; done
rm -rf /var/lib/cni/networks/k8s-local /var/lib/cni/results
ip link show k8sbr0 >/dev/null 2>&1 && ip link del k8sbr0
for h in /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/*/kubepods.slice; do
  [ -d "$h" ] && find "$h" -depth -type d -exec rmdir {} \; 2>/dev/null
done
for m in "$T/var/kubelet" "$R/containerd" "$T/var/containerd"; do
  awk -v p="$m" 'index($2, p) == 1 {print $2}' /proc/mounts | sort -r | xargs -r -n1 umount -l
done
# iptables: jumps from the built-in chains into KUBE-*, then the chains
for ipt in iptables ip6tables; do for tb in filter nat mangle raw; do
  $ipt -t $tb -S 2>/dev/null | grep -E '^-A (INPUT|OUTPUT|FORWARD|PREROUTING|POSTROUTING) .*-j KUBE-' | sed 's/^-A/-D/' |
    while read -r rule; do eval "$ipt -t $tb $rule"; done
  for ch in $($ipt -t $tb -S 2>/dev/null | awk '$1=="-N" && $2 ~ /^KUBE-/ {print $2}'); do $ipt -t $tb -F "$ch"; done
  for ch in $($ipt -t $tb -S 2>/dev/null | awk '$1=="-N" && $2 ~ /^KUBE-/ {print $2}'); do $ipt -t $tb -X "$ch"; done
done; done
[ -f "$R/sysctl.saved" ] && sed 's/ = /=/' "$R/sysctl.saved" | xargs -r sysctl -q -w
if [ -f "$R/mounts.made" ]; then
  grep -qx shared "$R/mounts.made" && mountpoint -q /sys/fs/bpf && mount --make-private /sys/fs/bpf
  grep -qx /sys/kernel/debug "$R/mounts.made" && umount /sys/kernel/debug
  grep -qx /sys/fs/bpf "$R/mounts.made" && umount /sys/fs/bpf
fi
rm -rf "$T/var" "$R" "$T/log"
for l in /var/log/containers/*.log; do [ -L "$l" ] && case $(readlink "$l") in "$T"/*) rm -f "$l";; esac; done
rmdir /var/log/containers /var/lib/cni/networks /var/lib/cni 2>/dev/null
echo "down: done"
