/** Fixed path and name lists (bubblewrap keeps these as constants too). */

/**
 * Where pivot_root puts the host root: on /tmp, above the container's /tmp
 * tmpfs; it is detached before the command runs, which uncovers that and
 * leaves no directory behind.  (Not /dev or /proc: the steps in between use
 * the container's /dev/null and /proc/self/mountinfo.)
 */
export const PUT_OLD = '/tmp';

/** /proc entries made read-only (runc's readonlyPaths). */
export const PROC_READONLY = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'] as const;

/** Paths hidden from the container (runc's default maskedPaths): files get /dev/null, directories an empty read-only tmpfs. */
export const MASKED = [
  '/proc/acpi',
  '/proc/asound',
  '/proc/interrupts',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/sched_debug',
  '/proc/scsi',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/sys/devices/virtual/powercap',
  '/sys/firmware',
] as const;

/** The container's own device nodes (docker's defaults): name, major, minor. */
export const DEVICES = [
  ['null', 1, 3],
  ['zero', 1, 5],
  ['full', 1, 7],
  ['random', 1, 8],
  ['urandom', 1, 9],
  ['tty', 5, 0],
] as const;

/** Symlinks every /dev has. */
export const DEV_LINKS = [
  ['pts/ptmx', '/dev/ptmx'],
  ['/proc/self/fd', '/dev/fd'],
  ['/proc/self/fd/0', '/dev/stdin'],
  ['/proc/self/fd/1', '/dev/stdout'],
  ['/proc/self/fd/2', '/dev/stderr'],
] as const;

/** Host tools the plan runs, by name; facts.ts finds them on the host. */
export const TOOLS = ['mount', 'umount', 'mkdir', 'touch', 'rm', 'ln', 'readlink', 'mknod', 'cp', 'mkfifo', 'chroot', 'env', 'hostname', 'pivot_root', 'sh', 'unshare', 'setpriv', 'capsh', 'fuse-overlayfs'] as const;
export type Tool = (typeof TOOLS)[number];

/** Linux capability names (capabilities(7)), for --nocaps validation. */
export const CAPABILITIES: readonly string[] = [
  'cap_chown', 'cap_dac_override', 'cap_dac_read_search', 'cap_fowner', 'cap_fsetid', 'cap_kill', 'cap_setgid',
  'cap_setuid', 'cap_setpcap', 'cap_linux_immutable', 'cap_net_bind_service', 'cap_net_broadcast', 'cap_net_admin',
  'cap_net_raw', 'cap_ipc_lock', 'cap_ipc_owner', 'cap_sys_module', 'cap_sys_rawio', 'cap_sys_chroot', 'cap_sys_ptrace',
  'cap_sys_pacct', 'cap_sys_admin', 'cap_sys_boot', 'cap_sys_nice', 'cap_sys_resource', 'cap_sys_time',
  'cap_sys_tty_config', 'cap_mknod', 'cap_lease', 'cap_audit_write', 'cap_audit_control', 'cap_setfcap',
  'cap_mac_override', 'cap_mac_admin', 'cap_syslog', 'cap_wake_alarm', 'cap_block_suspend', 'cap_audit_read',
  'cap_perfmon', 'cap_bpf', 'cap_checkpoint_restore',
];

/** The lanes of the set-up: steps that run in a background subshell beside the main ones (plan/types.ts). */
export const LANES = ['etc'] as const;

/** The temp dir's file where the steps of a lane (or the main ones) leave their stderr. */
export const stepErrFile = (lane?: string): string => (lane ? `step-${lane}.err` : 'step.err');



/** The fstab(5) of the host's other mounts an older minc wrote (they are lines of BELOW now): removed from a reused dir. */
export const MOUNTS_FSTAB = 'mounts.fstab';

/** The temp dir's fstab(5) of what is mounted below the new root, the host's other mounts and the /etc binds too (plan/table.ts). */
export const BELOW = 'below.fstab';

/** The temp dir's directory of the links every /dev has, copied into the container's /dev with its nodes. */
export const DEVLINKS = 'devlinks';
/** rootless: the container's /dev, a dir of the temp dir (its links and the files the host's nodes are bound on) */
export const DEVDIR = 'dev';

/** The empty file --hide binds over a hidden file. */
export const HIDDEN_FILE = 'hidden';

/** Files of a run in the temp dir that a kept one does not keep: the start fifos, the steps' stderr, the plan's files. */
/** --cross: the fifo on which init, in its new user namespace, learns it has its id map (plan/cross.ts) */
export const CROSS_FIFO = 'crossgo';
export const RUN_FILES: readonly string[] = ['ready', 'go', CROSS_FIFO, stepErrFile(), ...LANES.map(stepErrFile), MOUNTS_FSTAB, BELOW, `${BELOW}.err`, HIDDEN_FILE, DEVLINKS, DEVDIR, 'fuse.err'];

/** Prefix of temp dir names: minc<pid>-XXXXXX. */
export const TEMP_PREFIX = 'minc';
