/**
 * --qemu's options: what keeps its meaning in a guest (--name, -b, --net
 * with -p, --mem-limit as the guest's memory, --cpu as its vCPUs, -r, -t,
 * -k, -D) and one clear line for what makes no sense there.
 */
import { existsSync, statSync } from 'node:fs';
import { UsageError } from '../errors.js';
import { parseSize } from '../cgroup/config.js';
import { checkPorts, parsePort } from '../net/config.js';
import type { MincArgs } from '../options/parse.js';
import { imageRun } from '../marten/minc.js';
import { validate, type Config } from '../options/validate.js';

export interface VmConfig {
  readonly accel: 'kvm' | 'tcg';
  readonly memMiB: number;
  readonly cpus: number;
  readonly fs: '9p' | 'virtiofs';
  readonly net: boolean;
  readonly ports: readonly { host: number; guest: number; proto: 'tcp' | 'udp' }[];
  readonly kernel?: string;
}

/** Options a guest cannot honour, by their MincArgs field. */
const NO_SENSE: readonly [keyof MincArgs, string, string][] = [
  ['usedev', '--usedev', "the guest's /dev is its own kernel's"],
  ['nocaps', '--nocaps', 'the guest is the boundary'],
  ['user', '--user', 'not supported in the guest yet'],
  ['asPid1', '--as-pid-1', "the guest's PID 1 is minc's init"],
  ['preserveFds', '--preserve-fds', 'descriptors cannot cross into a guest'],
  ['hide', '--hide', 'not supported in the guest yet'],
  ['X11', '--X11', 'the X socket cannot cross into a guest'],
  ['debugfs', '--debugfs', 'not supported in the guest yet'],
  ['ftrace', '--ftrace', "the guest's kernel is not the host's"],
  ['memSwap', '--mem-swap', 'the guest has no swap'],
  ['cpuShares', '--cpu-shares', 'not a guest setting'],
  ['cpuQuota', '--cpu-quota', 'not a guest setting'],
  ['pidMax', '--pid-max', 'not a guest setting'],
  ['background', '--background', 'not supported with --qemu yet'],
  ['review', '--review', 'not supported with --qemu yet (run with -k, then --summary and --apply the kept dir)'],
  ['cross', '--cross', 'the guest runs the host\'s architecture'],
  ['nopriv', '--nopriv', 'a guest runs as root of its own kernel (--qemu needs root)'],
];

/**
 * The options a guest run takes as they are (the rest of minc --help is in
 * NO_SENSE, or is a mode of its own that runs before --qemu is looked at:
 * --doctor, --gc, --stop, --summary/--apply/--undo and theirs).  A unit test
 * checks that every option of src/options/spec.ts is in one of the lists.
 */
export const KEPT: readonly string[] = ['help', 'version', 'keep', 'tempdir', 'direct', 'rootdir', 'rm', 'bind', 'name', 'pivot',
  'debug', 'dry-run', 'net', 'port', 'cpu', 'mem-limit', 'qemu', 'qemu-tcg', 'qemu-kernel'];
export const MODES: readonly string[] = ['doctor', 'gc', 'stop', 'summary', 'apply', 'undo', 'json', 'exit-code', 'force', 'exclude'];
export const NO_SENSE_OPTIONS: readonly string[] = NO_SENSE.map(([, option]) => option.slice(2));

/**
 * Whether /dev/kvm can boot a stock kernel.  A PVM host's (kvm_pvm, where the CPU shows no vmx/svm) cannot in
 * useful time: Debian's kernel crawls under it (minutes to its first console line, page by page), and -cpu host
 * aborts (KVM refuses MSR 0x10a).
 */
export function kvmUsable(): { ok: boolean; why?: string } {
  if (!existsSync('/dev/kvm')) return { ok: false, why: 'there is no /dev/kvm (enable virtualisation, load kvm_intel or kvm_amd)' };
  if (existsSync('/sys/module/kvm_pvm')) return { ok: false, why: "this host's /dev/kvm is PVM (kvm_pvm), under which a stock kernel takes minutes to boot" };
  return { ok: true };
}

export function validateVm(args: MincArgs & { qemuTcg?: boolean; qemuKernel?: string }, env: NodeJS.ProcessEnv = process.env): { config: Config; vm: VmConfig } {
  for (const [field, option, why] of NO_SENSE) {
    const v = args[field];
    if (v === true || (typeof v === 'string') || (Array.isArray(v) && v.length > 0)) throw new UsageError(`${option} makes no sense with --qemu: ${why}`);
  }
  // (a user's run would need the guest's root as a rootless container's: fuse-overlayfs in a user namespace, and
  // qemu's 9p export of it from there; not built)
  if (!args.dryRun && (process.getuid?.() ?? 0) !== 0) {
    throw new UsageError("--qemu needs root: the guest's copy-on-write root is a kernel overlay the host side mounts (run it with sudo; a rootless run without --qemu needs none)");
  }
  let accel: VmConfig['accel'] = 'kvm';
  if (args.qemuTcg) accel = 'tcg';
  else {
    const kvm = kvmUsable();
    if (!kvm.ok && !args.dryRun) throw new UsageError(`--qemu needs KVM: ${kvm.why}; --qemu-tcg runs without it (slow)`);
  }
  const memMiB = args.memLimit !== undefined ? Math.floor(parseSize('--mem-limit', args.memLimit) / 1048576) : 512;
  if (memMiB < 128) throw new UsageError(`--mem-limit '${args.memLimit}': a guest needs 128M at least`);
  let cpus = 1;
  if (args.cpu !== undefined) {
    if (!/^(0x)?[0-9a-f]+$/i.test(args.cpu) || /^(0x)?0+$/i.test(args.cpu)) throw new UsageError(`--cpu '${args.cpu}': expected a hexadecimal CPU mask such as 1 or 0x3`);
    cpus = [...BigInt(`0x${args.cpu.replace(/^0x/i, '')}`).toString(2)].filter((b) => b === '1').length;
  }
  for (const spec of args.bind ?? []) {
    // each -b is a 9p share of a directory, named on a line of the guest's control file
    if (spec.includes('\n')) throw new UsageError(`--bind '${spec}': a newline cannot cross into the guest`);
  }
  const portMaps = (args.port ?? []).map(parsePort);
  checkPorts(portMaps);
  if (args.net !== undefined && args.net !== '' && args.net !== 'dens' && args.net !== 'user') {
    throw new UsageError(`--net ${args.net} makes no sense with --qemu: the guest gets qemu's user-mode network (--net, with -p)`);
  }
  const fs = env.MINC_QEMU_FS === 'virtiofs' ? 'virtiofs' : '9p';
  // the rest as a container's (-r, -t, -b, --name, -k, -D), without the host network and cgroup checks
  const config = validate({ ...args, memLimit: undefined, cpu: undefined, net: undefined, port: [] }, env, imageRun(args.rootdir, args.tempdir));
  for (const b of config.binds) {
    if (!statSync(b.source, { throwIfNoEntry: false })?.isDirectory()) throw new UsageError(`--bind '${b.source}': only a directory can be shared into a guest`);
  }
  return {
    config,
    vm: {
      accel, memMiB, cpus, fs,
      net: args.net !== undefined || portMaps.length > 0,
      ports: portMaps.map((p) => ({ host: p.hostPort, guest: p.port, proto: p.proto })),
      ...(args.qemuKernel !== undefined ? { kernel: args.qemuKernel } : {}),
    },
  };
}
