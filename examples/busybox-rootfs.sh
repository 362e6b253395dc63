#!/bin/sh
# Make a tiny busybox rootfs (Debian's busybox-static) and run a shell in it.
# usage: sudo examples/busybox-rootfs.sh [DIR [COMMAND [ARGS...]]]
set -eu
DIR=${1:-/tmp/busybox-rootfs}
[ $# -gt 0 ] && shift
MINC=$(dirname "$0")/../bin/minc
if [ ! -x "$DIR/bin/busybox" ] || [ -L "$DIR/bin/busybox" ]; then
  mkdir -p "$DIR/bin" "$DIR/etc" "$DIR/root"
  rm -f "$DIR/bin/busybox"   # a link left by an older version of this script
  cp /bin/busybox "$DIR/bin/busybox"
  # `busybox --list` names busybox itself (Debian 12): linking that one would
  # turn the binary into a link to itself
  for applet in $("$DIR/bin/busybox" --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$DIR/bin/$applet"
  done
  echo 'root:x:0:0:root:/root:/bin/sh' > "$DIR/etc/passwd"
  echo 'root:x:0:' > "$DIR/etc/group"
fi
# whatever the shell changes in / is thrown away when it exits
[ $# -gt 0 ] || set -- /bin/sh
exec "$MINC" --name busybox -r "$DIR" "$@"
