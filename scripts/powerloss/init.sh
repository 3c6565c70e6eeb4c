#!/bin/busybox sh
# shellcheck shell=dash # busybox ash: checked as dash, its POSIX core
# /init of the power-cut VM (scripts/powerloss): load the virtio and ext4
# modules, mount the store's disk, run the workload. Every line it prints
# starts with TETHER-PL-INIT; see doc.go for the protocol.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev

say() { echo "TETHER-PL-INIT $*"; }
fail() {
	say "ERROR $*"
	poweroff -f
}

say BOOTED
# Order matters: insmod does not resolve dependencies (modules/order is
# written by the harness from kernelModules).
while read -r m; do
	insmod "/lib/modules/$m.ko" || fail "insmod $m"
done </lib/modules/order

i=0
while [ ! -b /dev/vda ]; do
	i=$((i + 1))
	[ "$i" -gt 400 ] && fail "no /dev/vda"
	sleep 0.05
done
say MOUNTING
# ext4 defaults: data=ordered, barriers on, 5 s journal commit.
mount -t ext4 /dev/vda /data || fail "mount /dev/vda"
# Every option in force, defaults included (/proc/mounts hides those).
say MOUNTED "$(tr '\n' ',' </proc/fs/ext4/vda/options)"

export TETHER_POWERLOSS_DIR=/data/store
# The harness writes acknowledgements into the console (the workload's
# stdin): not echoed back into the output it reads.
stty -echo || echo "stty -echo failed: the console echoes the acknowledgements"
say START
# shellcheck disable=SC2046 # the arguments are split on purpose
/workload $(cat /workload.args) 2>&1
say EXIT $?
poweroff -f
