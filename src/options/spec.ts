/**
 * minc's options as data: one table feeds the fast parser (parse.ts), the
 * help text (help.ts), the man page and completions (src/cli/docs.ts) and the README's option list.
 * Names and meanings follow MINCS's `minc`.
 */
import { NET_MODE_WORD } from '../net/config.js';

export interface OptionSpec {
  readonly name: string;
  readonly alias?: string;
  /** name of the value it takes; absent for a flag */
  readonly value?: string;
  readonly repeatable?: boolean;
  /** the value is optional: the next word is taken only if it matches (else it is the command) */
  readonly valueIf?: RegExp;
  readonly describe: string;
}

export const OPTIONS: readonly OptionSpec[] = [
  { name: 'help', alias: 'h', describe: 'Show this help' },
  { name: 'version', describe: "Print minc's version" },
  { name: 'keep', alias: 'k', describe: 'Keep the temporary directory (prints how to reuse it, on stderr)' },
  { name: 'tempdir', alias: 't', value: 'DIR', describe: 'Use (or reuse) DIR as the temporary directory (made if new); implies --keep, reuses its storage, utsname and root directory' },
  { name: 'direct', alias: 'D', describe: 'Bind the root directory directly instead of an overlay: writes reach it' },
  { name: 'rootdir', alias: 'r', value: 'DIR', describe: 'Use DIR as the original root directory instead of /' },
  { name: 'rm', describe: "With -r IMAGE: remove the container when the command ends (else it stays in marten's store)" },
  { name: 'bind', alias: 'b', value: 'HOSTPATH[:PATH][:ro]', repeatable: true, describe: 'Bind HOSTPATH at PATH (absolute, default HOSTPATH) in the container; :ro makes it read-only' },
  { name: 'hide', value: 'PATH', repeatable: true, describe: 'PATH (absolute, in the container) shows empty inside: for ~/.ssh, ~/.aws, tokens' },
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
  // issue 4: network, cgroup limits, background runs (src/options/hostopts.ts validates them)
  { name: 'net', alias: 'n', value: '[MODE]', valueIf: NET_MODE_WORD, describe: 'A new network namespace. MODE: raw (default: only lo), raw,IFACE (moves host interface IFACE in), dens (bridge mincbr0 + NAT, own address)' },
  { name: 'port', alias: 'p', value: 'HOSTPORT[:PORT[:udp]]', repeatable: true, describe: 'Publish container PORT (default HOSTPORT) on the host\'s HOSTPORT (DNAT; tcp unless :udp); implies --net dens' },
  { name: 'cpu', alias: 'c', value: 'MASK', describe: 'Pin the container to the CPUs of hexadecimal MASK (taskset)' },
  { name: 'mem-limit', value: 'SIZE', describe: 'Memory limit (cgroup), e.g. 512M or 1G; a process over it is OOM-killed' },
  { name: 'mem-swap', value: 'SIZE', describe: 'Memory + swap limit (cgroup), with --mem-limit' },
  { name: 'cpu-shares', value: 'SHARES', describe: 'CPU shares (cgroup; default 1024; cpu.weight on cgroup v2)' },
  { name: 'cpu-quota', value: 'USEC', describe: 'CPU time per 100000 us period (cgroup): 50000 is half a CPU' },
  { name: 'pid-max', value: 'MAX', describe: "At most MAX processes of the command's (cgroup pids; minc's own init and set-up do not count)" },
  { name: 'background', alias: 'B', describe: 'Run in the background: prints the temp dir; output goes to its log and debug files; stop with minc --stop DIR' },
  { name: 'stop', value: 'DIR|ID|NAME', describe: 'Stop a background run (or a running container of the store) and clean up after it: its temp dir, or its ID or NAME as marten lc shows them' },
  { name: 'X11', alias: 'X', describe: 'Share the X11 display: binds /tmp/.X11-unix and $XAUTHORITY ($DISPLAY must be set)' },
  { name: 'debugfs', describe: 'Mount debugfs at /sys/kernel/debug' },
  // issue 9: reviewing and keeping a sandbox's changes (src/review)
  { name: 'summary', value: 'DIR', describe: 'List the changes of a kept temp dir or store container DIR (A/C/D PATH, as docker diff)' },
  { name: 'json', describe: 'With --summary: the changes as JSON (kind, what changed)' },
  { name: 'exit-code', describe: 'With --summary: exit 1 when there are changes (as git diff --exit-code)' },
  { name: 'apply', value: 'DIR', describe: 'Put the changes of DIR onto the host: all, or those at or below each PATH given after DIR (options go before --apply); undo with --undo' },
  { name: 'force', describe: 'With --apply: overwrite host paths that changed after the sandbox began' },
  { name: 'exclude', value: 'PATTERN', repeatable: true, describe: 'With --summary, --apply, --review: leave out paths matching the glob (* within a name, ** across /)' },
  { name: 'undo', value: 'DIR', describe: 'Put the host back as it was before the last --apply of DIR (also after a killed one)' },
  { name: 'review', describe: 'Run the command in a kept sandbox, show its changes and ask whether to apply them' },
  { name: 'ftrace', value: 'SCRIPT', describe: 'Set the ftrace pid filter on the container, then run SCRIPT in the tracefs directory (MINC_PID set)' },
  // issue 14: --qemu (src/vm/) and --cross
  { name: 'qemu', describe: "Run the command in a KVM guest booting the host distribution's kernel (/boot/vmlinuz-*)" },
  { name: 'qemu-tcg', describe: 'With --qemu: run the guest without KVM (TCG: slow)' },
  { name: 'cross', alias: 'arch', value: 'ARCH', describe: 'Run a root of another architecture (amd64 arm arm64 ppc64el riscv64 s390x and aliases): every process under qemu-user-static, registered in binfmt_misc of the container\'s own user namespace (Linux 6.7+)' },
  // issue 11: rootless
  { name: 'nopriv', value: 'DIR', describe: "MINCS's rootless run: the command in root directory DIR as root of a user namespace, writing to DIR itself (a user who is not root gets a rootless run anyway)" },
  { name: 'qemu-kernel', value: 'FILE', describe: 'With --qemu: boot FILE instead of the newest /boot/vmlinuz-*' },
];
