/**
 * Namespace-side steps of issue 4's options, run before pivot_root with the
 * host's tools on paths below the new root (like the /proc, /sys and /dev
 * steps): lo up for a plain --net raw, debugfs (--debugfs), and for --ftrace
 * tracefs, the pid filter on the container's init and the user's script --
 * run with the host's view of the files, as MINCS's minc-hunt, since ftrace
 * setup is host-side business.  (-X's binds are ordinary binds: validate
 * puts them in config.binds.)
 */
import type { PlanInput } from './types.js';
import type { Step } from './types.js';

/**
 * --ftrace: the pid filter of events (and of function tracing, where this
 * kernel lets it be set) on the container's init as the host sees it, its
 * children followed (options/event-fork), then SCRIPT sourced in the tracefs
 * directory with MINC_PID set (MINCS's minc-hunt).
 */
export const FTRACE_SH = [
  'cd "$3" || exit 1',
  'echo "$1" > set_event_pid || exit 1',
  '[ ! -e options/event-fork ] || echo 1 > options/event-fork',
  'if [ -e set_ftrace_pid ]; then',
  '  { echo "$1" > set_ftrace_pid; } 2>/dev/null || echo "minc: --ftrace: this kernel does not let set_ftrace_pid be written: function tracing is not filtered by pid" >&2',
  '  [ ! -e options/function-fork ] || echo 1 > options/function-fork',
  'fi',
  'MINC_PID=$1; export MINC_PID; . "$2"',
].join('\n');

/** Where --ftrace mounts tracefs (in the container's private mount namespace; the host's mounts stay as they are). */
export const TRACEFS = '/sys/kernel/tracing';

/**
 * tracefs at $1 unless it is mounted there already (systemd mounts it at
 * boot, and a second mount of it there fails with EBUSY): $2 is mount.
 */
export const TRACEFS_SH = [
  'while read -r _ _ _ _ minc_mp _; do [ "$minc_mp" = "$1" ] && exit 0; done < /proc/self/mountinfo',
  'exec "$2" -t tracefs -o nosuid,nodev,noexec tracefs "$1"',
].join('\n');

export function extraNsSteps(input: PlanInput): Step[] {
  const { config, facts, tempdir } = input;
  const root = `${tempdir}/root`;
  const steps: Step[] = [];
  const mount = facts.tools.mount ?? 'mount';
  if (config.net?.mode === 'raw' && !config.net.iface) {
    steps.push({ why: 'Bring up lo in the new network namespace (--net raw)', argv: [config.net.tools.ip, 'link', 'set', 'lo', 'up'] });
  }
  if (config.debugfs) {
    steps.push({ why: 'debugfs at /sys/kernel/debug (--debugfs)', argv: [mount, '-t', 'debugfs', '-o', 'nosuid,nodev,noexec', 'debugfs', `${root}/sys/kernel/debug`] });
  }
  if (config.ftrace) {
    steps.push(
      {
        why: `tracefs at ${TRACEFS} unless the host has it there, for the --ftrace script (this mount namespace only)`,
        argv: [facts.tools.sh ?? 'sh', '-c', TRACEFS_SH, 'minc-tracefs', TRACEFS, mount],
      },
      {
        why: `Trace the container: pid filter on its init, then ${config.ftrace} in the tracefs directory (MINC_PID set)`,
        argv: [facts.tools.sh ?? 'sh', '-c', FTRACE_SH, 'minc-ftrace', { sh: '"$MINC_HOSTPID"' }, config.ftrace, TRACEFS],
        userOutput: true,
      },
    );
  }
  return steps;
}
