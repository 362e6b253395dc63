#!/bin/sh
# bench/minimal.sh COMMAND...: the least a throwaway container needs (issue 12's
# yardstick): an overlay of /, a /dev tmpfs with devpts and four nodes, /proc,
# a /tmp tmpfs, pivot_root; nothing else (no masks, no /sys, no /etc binds).
set -eu
d=$(mktemp -d "${BENCH_TEMPBASE:-/run}/minimal$$-XXXXXX"); trap 'rm -rf "$d"' EXIT
mkdir "$d/r" "$d/u" "$d/w"
unshare -imupf sh -ec 'd=$1; shift; r=$d/r
mount -t overlay -o lowerdir=/,upperdir=$d/u,workdir=$d/w o "$r"
mount -t tmpfs -o mode=755 t "$r/dev"; mkdir "$r/dev/pts"; mount -t devpts -o newinstance d "$r/dev/pts"
for n in null:1:3 zero:1:5 urandom:1:9 tty:5:0; do IFS=: read -r f a b <<E
$n
E
mknod -m 666 "$r/dev/$f" c "$a" "$b"; done
mount -t proc p "$r/proc"; mount -t tmpfs -o mode=1777 t "$r/tmp"
cd "$r"; mkdir -p .old; pivot_root . .old; umount -l /.old; exec "$@"' minimal "$d" "$@"
