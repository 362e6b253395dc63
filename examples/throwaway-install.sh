#!/bin/sh
# Try something destructive on a copy-on-write view of this very host, keep
# the result, look at what changed, then throw it away.
# usage: sudo examples/throwaway-install.sh
set -eu
MINC=$(dirname "$0")/../bin/minc
# -k keeps the temp dir; its storage/ holds exactly what the sandbox wrote
out=$("$MINC" -k sh -c 'rm -f /etc/motd; echo "hello from the sandbox" > /etc/issue.minc' 2>&1)
dir=$(printf '%s\n' "$out" | sed -n 's/.*minc -t \([^ ]*\).*/\1/p')
echo "the sandbox wrote:"; (cd "$dir/storage" && find . -mindepth 1 | sort)
echo "the host still has /etc/motd: $(test -e /etc/motd && echo yes || echo no)"
# run again in the same sandbox: its changes are still there
"$MINC" -t "$dir" cat /etc/issue.minc
rm -rf "$dir"
