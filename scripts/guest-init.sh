#!/bin/sh
# /init of the kTLS test guest (user-mode Linux, or QEMU with Debian's amd64 kernel), copied
# into the initramfs by scripts/ktls-guest.sh setup.  Runs under busybox sh as PID 1.
#
# Kernel command line (set by scripts/ktls-guest.sh run):
#   kxfer_run=/host/path/script   the command to run, as a bash script on the host's filesystem
#   kxfer_tag=HEX                 nonce that makes our marker lines unforgeable by the command
#   kxfer_err=/dev/ttyS1          the host's stderr (QEMU's second serial port; default /dev/tty1)
# Console: /dev/console (UML con0, QEMU ttyS0) is the host's stdout, /dev/tty1 (UML con1) the
# host's stderr.  The host's filesystem: hostfs (UML), else virtio-9p with mount tag "host".
# PID 1 must never exit (the kernel would panic): every path ends in poweroff -f.
export PATH=/bin
umask 022

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev

run='' tag='' err=/dev/tty1
for arg in $(cat /proc/cmdline); do
    case $arg in
    kxfer_run=*) run=${arg#kxfer_run=} ;;
    kxfer_tag=*) tag=${arg#kxfer_tag=} ;;
    kxfer_err=*) err=${arg#kxfer_err=} ;;
    esac
done

# No \n -> \r\n translation: the host should get the command's bytes unchanged.
stty -onlcr </dev/console 2>/dev/null
stty -onlcr <"$err" 2>/dev/null
# Kernel messages stay off the console from now on (panics still show); boot errors
# (quiet on the command line: level <= 3) were seen by the host before CMD starts.
dmesg -n 1 2>/dev/null

say() { echo "kxfer-guest: $*" >"$err"; }
die() { say "$*"; sync; poweroff -f; halt -f; while :; do sleep 1; done; }

ip link set lo up || say "cannot bring up lo"

# Modules in dependency order (computed from modules.dep at setup time).
while read -r m; do
    insmod "/lib/modules/$m" || say "insmod $m failed"
done </modules.order

# The host's whole filesystem; writes there are real host writes.
if grep -qw hostfs /proc/filesystems; then
    mount -t hostfs -o / hostfs /host || die "cannot mount hostfs"
else
    # virtio-9p: the device may still be probing right after insmod, so retry briefly.
    n=0
    until mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144,access=any host /host 2>/dev/null; do
        n=$((n + 1))
        [ $n -lt 50 ] || die "cannot mount the host filesystem (9p, tag host)"
        sleep 0.1
    done
fi
# Inside the chroot the guest's own proc/sys/dev must shadow the host's, or /proc/net/tls_stat
# would be the host's file (hostfs reads the host's /proc).
mount -t proc proc /host/proc
mount -t sysfs sysfs /host/sys
mount -t devtmpfs devtmpfs /host/dev
mkdir -p /host/dev/pts /host/dev/shm
mount -t devpts -o newinstance,ptmxmode=0666 devpts /host/dev/pts
mount -t tmpfs -o mode=1777 tmpfs /host/dev/shm
# devtmpfs lacks these links; bash process substitution and /dev/stdin need them.
ln -sf /proc/self/fd /host/dev/fd
ln -sf /proc/self/fd/0 /host/dev/stdin
ln -sf /proc/self/fd/1 /host/dev/stdout
ln -sf /proc/self/fd/2 /host/dev/stderr

[ -n "$run" ] || die "no kxfer_run= on the kernel command line"
echo "KXFER-GUEST-BOOTED $tag"
chroot /host /bin/bash "$run" </dev/null >/dev/console 2>"$err"
rc=$?
# hostfs writes go through the guest's page cache: flush them before the host reads anything.
sync
echo "KXFER-GUEST-EXIT $tag $rc"
poweroff -f
halt -f
while :; do sleep 1; done
