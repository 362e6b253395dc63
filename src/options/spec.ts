/**
 * minc's options as data: one table feeds the fast parser (parse.ts), the
 * help text (help.ts, rendered by yargs) and the README's option list.
 * Names and meanings follow MINCS's `minc`.
 */
export interface OptionSpec {
  readonly name: string;
  readonly alias?: string;
  /** name of the value it takes; absent for a flag */
  readonly value?: string;
  readonly repeatable?: boolean;
  readonly describe: string;
}

export const OPTIONS: readonly OptionSpec[] = [
  { name: 'help', alias: 'h', describe: 'Show this help' },
  { name: 'keep', alias: 'k', describe: 'Keep the temporary directory (prints how to reuse it, on stderr)' },
  { name: 'tempdir', alias: 't', value: 'DIR', describe: 'Use (or reuse) DIR as the temporary directory; implies --keep, reuses its storage and utsname' },
  { name: 'direct', alias: 'D', describe: 'Bind the root directory directly instead of an overlay: writes reach it' },
  { name: 'rootdir', alias: 'r', value: 'DIR', describe: 'Use DIR as the original root directory instead of /' },
  { name: 'bind', alias: 'b', value: 'HOSTPATH[:PATH][:ro]', repeatable: true, describe: 'Bind HOSTPATH at PATH (absolute, default HOSTPATH) in the container; :ro makes it read-only' },
  { name: 'name', value: 'NAME', describe: "Set NAME as the container's hostname" },
  { name: 'user', value: 'UID[:GID]', describe: 'Run the command as UID (a number or a user of the root directory) and GID' },
  { name: 'usedev', describe: "Mount the host's devtmpfs on /dev instead of a private /dev (for loop devices etc.)" },
  { name: 'nocaps', value: 'CAPS', describe: 'Drop the capabilities CAPS (comma separated, as capsh --drop) from the command' },
  { name: 'pivot', describe: 'Accepted for MINCS compatibility: minc always uses pivot_root' },
  { name: 'as-pid-1', describe: 'Exec the command as PID 1 instead of under minc\'s minimal init' },
  { name: 'preserve-fds', value: 'N', describe: 'Pass N more file descriptors (3 .. 2+N, N <= 4) to the command' },
  { name: 'debug', describe: 'Print every command minc runs, with its reason, on stderr' },
  { name: 'dry-run', describe: 'Print the whole plan without running it (needs no root)' },
  { name: 'doctor', describe: 'Check that this host has what minc needs and say what to install' },
  { name: 'gc', describe: 'Remove temporary directories of runs whose minc is dead' },
];
