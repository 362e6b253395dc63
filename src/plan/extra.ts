/**
 * Namespace-side steps of issue 4's options, run after pivot_root through
 * the host's loader (hostrun) like the other steps there: lo up for a plain
 * --net raw, debugfs (--debugfs), the ftrace pid filter and the user's
 * script (--ftrace), the X11 binds (-X), just before the user's binds.
 */
import { bindSteps, type PlanInput } from './build.js';
import { PUT_OLD } from './paths.js';
import type { Step } from './types.js';

/**
 * --ftrace: tracefs in the container's mount namespace, the pid filter of
 * events and function tracing set to the container's init (as the host
 * sees it; options/event-fork follows its children), then SCRIPT, sourced
 * in the tracefs directory with MINC_PID set (MINCS's minc-hunt).
 */
export const FTRACE_SH = [
  'cd /sys/kernel/tracing || exit 1',
  'echo "$1" > set_event_pid || exit 1',
  '[ ! -e set_ftrace_pid ] || echo "$1" > set_ftrace_pid || exit 1',
  '[ ! -e options/event-fork ] || echo 1 > options/event-fork',
  '[ ! -e options/function-fork ] || echo 1 > options/function-fork',
  'MINC_PID=$1; export MINC_PID; . "$2"',
].join('\n');

export function extraNsSteps(input: PlanInput): Step[] {
  const { config, facts } = input;
  const steps: Step[] = [];
  const mount = facts.tools.mount ?? 'mount';
  if (config.net?.mode === 'raw' && !config.net.iface) {
    steps.push({ why: 'Bring up lo in the new network namespace (--net raw)', argv: ['hostrun', config.net.tools.ip, 'link', 'set', 'lo', 'up'] });
  }
  if (config.debugfs) {
    steps.push({ why: 'debugfs at /sys/kernel/debug (--debugfs)', argv: ['hostrun', mount, '-t', 'debugfs', '-o', 'nosuid,nodev,noexec', 'debugfs', '/sys/kernel/debug'] });
  }
  if (config.ftrace) {
    steps.push(
      { why: 'tracefs at /sys/kernel/tracing (--ftrace)', argv: ['hostrun', mount, '-t', 'tracefs', '-o', 'nosuid,nodev,noexec', 'tracefs', '/sys/kernel/tracing'] },
      {
        why: `Trace the container: pid filter on its init, then ${config.ftrace} in the tracefs directory`,
        argv: ['hostrun', facts.tools.sh ?? 'sh', '-c', FTRACE_SH, 'minc-ftrace', { sh: '"$MINC_HOSTPID"' }, `${PUT_OLD}${config.ftrace}`],
      },
    );
  }
  if (config.x11Binds?.length) steps.push(...bindSteps({ ...input, config: { ...config, binds: config.x11Binds } }));
  return steps;
}
