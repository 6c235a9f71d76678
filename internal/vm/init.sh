#!/bin/sh
# pktlife VM init (PID 1): mount, load modules, run the test binary, report
# its exit status on ttyS1 and power off. ttyS0 is the kernel console.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TMPDIR=/tmp
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev

# ttyS1 carries the test's output to the host: raw, so "\n" stays "\n".
# fd 3 stays open until the end, so the line settings hold and the final
# close waits until every byte has left the UART.
exec 3>/dev/ttyS1
stty -F /dev/ttyS1 raw -echo
say() { echo "vm-init: $*" >&3; }
m() { mount "$@" || say "mount $* failed"; }

mkdir -p /dev/pts /dev/shm
m -t devpts devpts /dev/pts
m -t tmpfs tmpfs /dev/shm
m -t tmpfs tmpfs /tmp
m -t tmpfs tmpfs /run
m -t bpf bpf /sys/fs/bpf
m -t tracefs tracefs /sys/kernel/tracing
m -t debugfs debugfs /sys/kernel/debug
m -t cgroup2 cgroup2 /sys/fs/cgroup
hostname pktlife-vm
ip link set lo up || say "set lo up failed"
ulimit -l unlimited

release=$(uname -r)
while read -r ko; do
	insmod "/lib/modules/$release/$ko" || say "insmod $ko failed"
done </etc/pktlife/modules

echo PKTLIFE-VM-READY >&3
. /etc/pktlife/run
cd /work || say "cd /work failed"
"$@" </dev/null >&3 2>&3
echo "PKTLIFE-VM-EXIT=$?" >&3
exec 3>&-
sync
poweroff -f
