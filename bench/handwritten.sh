#!/bin/sh
# bench/handwritten.sh [COMMAND [ARG...]]: the container `minc COMMAND` sets up,
# hand-written as one plain POSIX sh script.  It is the baseline of
# `npm run bench`: minc's target is `minc true` <= `node -e 0` + this script.
#
# Same steps and mounts as minc's plan on this host (see `minc --dry-run true`):
# temp dir under /run with resolv.conf and hosts, then in new IPC, UTS, mount
# and PID namespaces: make-rprivate, overlay of /, /tmp tmpfs, pivot_root,
# /proc with runc's read-only paths, read-only /sys, a private /dev (tmpfs,
# its own nodes (cp -a), devpts, links, shm, mqueue), runc's masked paths, resolv.conf and
# hosts binds, /etc/mtab, detach the old root, run the command (exec'd in a
# child, as minc does, even for a shell builtin such as true; the inner sh
# stays as PID 1 and waits), and remove the temp dir.  The root is an overlay
# of the host's /, so after pivot_root the container's own tools are used
# (minc goes through the host's loader instead; a plain script does not need to).
#
# Everything is mounted inside the new mount namespace, made private first:
# nothing reaches the host, and the mounts go with the namespace when the
# command ends.  The EXIT trap removes the temp dir whatever happens.
set -eu
[ $# -gt 0 ] || set -- "${SHELL:-/bin/sh}"

d=$(mktemp -d "${BENCH_TEMPBASE:-/run}/handwritten$$-XXXXXX")
trap 'rm -rf "$d"' EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM
mkdir "$d/root" "$d/storage" "$d/work"
cp /etc/resolv.conf "$d/resolv.conf"
read -r host < /proc/sys/kernel/hostname
printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t%s\n' "$host" > "$d/hosts"
tty=
for fd in 0 1 2; do
  if [ -t "$fd" ]; then tty=$(readlink "/proc/self/fd/$fd"); break; fi
done

inner='set -eu
d=$1; tty=$2; shift 2
old=/tmp/.handwritten-oldroot
mount --make-rprivate /
mount -t overlay -o "lowerdir=/,upperdir=$d/storage,workdir=$d/work" minc-overlay "$d/root"
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$d/root/tmp"
mkdir "$d/root$old"
cd "$d/root"
pivot_root . "${old#/}"

mount -t proc -o nosuid,nodev,noexec proc /proc
for p in /proc/bus /proc/fs /proc/irq /proc/sys /proc/sysrq-trigger; do
  if [ -e "$p" ]; then mount --bind -o ro "$p" "$p"; fi
done
mount -t sysfs -o ro,nosuid,nodev,noexec sysfs /sys

mount -t tmpfs -o mode=755,nosuid,size=65536k tmpfs /dev
mkdir /dev/pts /dev/shm /dev/mqueue
# own nodes for the container: copies of the host ones (cp -a: mknod(2) each), as minc makes them
cp -a "$old/dev/null" "$old/dev/zero" "$old/dev/full" "$old/dev/random" "$old/dev/urandom" "$old/dev/tty" /dev/
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620,gid=5,nosuid,noexec devpts /dev/pts
ln -s pts/ptmx /proc/self/fd /dev/
ln -s /proc/self/fd/0 /dev/stdin
ln -s /proc/self/fd/1 /dev/stdout
ln -s /proc/self/fd/2 /dev/stderr
mount -t tmpfs -o mode=1777,nosuid,nodev,noexec shm /dev/shm
mount -t mqueue -o nosuid,nodev,noexec mqueue /dev/mqueue
if [ -n "$tty" ]; then
  touch /dev/console
  mount --bind "$old$tty" /dev/console
fi

for p in /proc/acpi /proc/asound /proc/interrupts /proc/kcore /proc/keys /proc/latency_stats /proc/sched_debug \
         /proc/scsi /proc/timer_list /proc/timer_stats /sys/devices/virtual/powercap /sys/firmware; do
  if [ -d "$p" ]; then mount -t tmpfs -o ro,nosuid,nodev,noexec tmpfs "$p"
  elif [ -e "$p" ]; then mount --bind /dev/null "$p"
  fi
done

for f in resolv.conf hosts; do
  if [ -L "/etc/$f" ]; then rm -f "/etc/$f"; fi
  if [ ! -e "/etc/$f" ]; then touch "/etc/$f"; fi
  mount --bind "$old$d/$f" "/etc/$f"
done
if [ ! -L /etc/mtab ]; then rm -f /etc/mtab; ln -s /proc/mounts /etc/mtab; fi

umount -l "$old"
rmdir "$old"
cd /
set +e
(exec "$@")
exit $?'

set +e
unshare -iumpf --kill-child sh -c "$inner" handwritten-init "$d" "$tty" "$@"
exit $?
