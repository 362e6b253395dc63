#!/bin/sh
# Make a tiny busybox rootfs (Debian's busybox-static) and run a shell in it.
# usage: sudo examples/busybox-rootfs.sh [DIR]
set -eu
DIR=${1:-/tmp/busybox-rootfs}
MINC=$(dirname "$0")/../bin/minc
if [ ! -x "$DIR/bin/busybox" ]; then
  mkdir -p "$DIR/bin" "$DIR/etc" "$DIR/root"
  cp /bin/busybox "$DIR/bin/busybox"
  for applet in $("$DIR/bin/busybox" --list); do ln -sf busybox "$DIR/bin/$applet"; done
  echo 'root:x:0:0:root:/root:/bin/sh' > "$DIR/etc/passwd"
  echo 'root:x:0:' > "$DIR/etc/group"
fi
# whatever the shell changes in / is thrown away when it exits
exec "$MINC" --name busybox -r "$DIR" /bin/sh
