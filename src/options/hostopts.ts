/**
 * Validation of issue 4's options (network, cgroup limits, --cpu,
 * --background, -X, --debugfs, --ftrace): everything they name is checked
 * against this host here, before anything is created, so an option the host
 * cannot honour ends the run with one clear line.  Host facts are read only
 * when an option needs them: a plain run pays nothing.
 */
import { existsSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { UsageError } from '../errors.js';
import { findHierarchies, neededControllers, parseLimits, type CgroupConfig } from '../cgroup/config.js';
import { delegatedHierarchies, parseProcCgroup } from '../cgroup/delegate.js';
import { BRIDGE, checkPorts, confValue, parseNetMode, parsePort, parseSubnet, subnetSetting, type NetConfig, type NetMode, type PortMap } from '../net/config.js';
import { chooseUserNet } from '../net/usermode.js';
import { tunFacts, tunProblem } from '../net/doctor.js';
import { findTool as which } from '../host/tools.js';
import { parseBind, type Bind } from './binds.js';

/** The parsed words of these options (parse.ts's MincArgs extends this). */
export interface ExtraArgs {
  /** --net: undefined when absent, '' without a MODE */
  net?: string;
  port: string[];
  cpu?: string;
  memLimit?: string;
  memSwap?: string;
  cpuShares?: string;
  cpuQuota?: string;
  pidMax?: string;
  background: boolean;
  X11: boolean;
  debugfs: boolean;
  ftrace?: string;
  stop?: string;
}

/** What they add to the validated Config (all optional: absent means off). */
export interface ExtraConfig {
  readonly net?: NetConfig;
  readonly cgroup?: CgroupConfig;
  /** --cpu MASK (hex, MINCS's taskset mask) and the taskset to apply it with */
  readonly cpuMask?: { readonly mask: string; readonly taskset: string };
  readonly background?: boolean;
  readonly debugfs?: boolean;
  /** --ftrace SCRIPT, as an absolute host path */
  readonly ftrace?: string;
}

const read = (path: string): string | null => {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
};

const ownerOf = (path: string): number | null => {
  try {
    return statSync(path).uid;
  } catch {
    return null;
  }
};

function tool(option: string, name: string, pkg: string): string {
  const p = which(name);
  if (!p) throw new UsageError(`${option} needs ${name}, which is not installed (apt-get install ${pkg})`);
  return p;
}

/** Interface names of this process's network namespace. */
export function interfaces(netdev = read('/proc/self/net/dev') ?? ''): string[] {
  return netdev.split('\n').slice(2).map((l) => l.split(':')[0]!.trim()).filter(Boolean);
}

const filesystems = (): string => read('/proc/filesystems') ?? '';

function validateNet(args: ExtraArgs, env: NodeJS.ProcessEnv, rootless: boolean): NetConfig | undefined {
  const portArgs = args.port ?? [];
  if (args.net === undefined && portArgs.length === 0) return undefined;
  const mode = parseNetMode(args.net === undefined || (args.net === '' && portArgs.length > 0) ? 'dens' : args.net);
  const ports = portArgs.map(parsePort);
  checkPorts(ports);
  if (ports.length > 0 && mode.mode !== 'dens') throw new UsageError(`--port publishes a port through the bridge: it needs --net dens, not --net ${args.net}`);
  const ip = tool('--net', 'ip', 'iproute2');
  if (mode.mode === 'raw' && !mode.iface) return { ...mode, ports, tools: { ip } };
  if (rootless) return rootlessNet(mode, ports, env, ip);
  const nsenter = tool('--net', 'nsenter', 'util-linux');
  if (mode.iface !== undefined) {
    if (mode.iface === 'lo' || mode.iface === BRIDGE) throw new UsageError(`--net raw,${mode.iface}: ${mode.iface} cannot be moved into a container`);
    if (!interfaces().includes(mode.iface)) throw new UsageError(`--net raw,${mode.iface}: no network interface '${mode.iface}' here (see ip link)`);
    return { ...mode, ports, tools: { ip, nsenter } };
  }
  const subnet = parseSubnet(subnetSetting(env, read('/etc/mincs.conf')));
  return {
    ...mode, ports, subnet,
    tools: {
      ip, nsenter,
      iptables: tool('--net dens', 'iptables', 'iptables'),
      iptablesRestore: tool('--net dens', 'iptables-restore', 'iptables'),
      flock: tool('--net dens', 'flock', 'util-linux'),
    },
  };
}

/**
 * Without root: no host interface can be moved in, and --net dens / -p use a
 * user-mode stack (src/net/usermode.ts) instead of the bridge and iptables.
 */
function rootlessNet(mode: NetMode, ports: PortMap[], env: NodeJS.ProcessEnv, ip: string): NetConfig {
  if (mode.iface !== undefined) throw new UsageError(`--net raw,${mode.iface} needs root: a user namespace cannot take a host interface (use --net dens, or run minc as root)`);
  const setting = env.MINC_USERNET ?? confValue(read('/etc/mincs.conf') ?? '', 'MINC_USERNET');
  const { kind, path } = chooseUserNet(setting, which);
  const tun = tunFacts();
  if (!tun.usable) throw new UsageError(`--net dens without root: ${tunProblem(tun)}`);
  return { ...mode, ports, usermode: { kind, path, setpriv: tool('--net dens', 'setpriv', 'util-linux') }, tools: { ip } };
}

function validateCgroup(args: ExtraArgs): CgroupConfig | undefined {
  const limits = parseLimits(args);
  if (!limits) return undefined;
  const mountinfo = read('/proc/self/mountinfo') ?? '';
  let hierarchies = findHierarchies(mountinfo, (m) => read(`${m}/cgroup.controllers`));
  const need = neededControllers(limits);
  for (const [c, option] of need) {
    if (!hierarchies[c]) throw new UsageError(`${option}: this host has no ${c} cgroup controller (neither in cgroup v2 nor mounted as v1)`);
  }
  const uid = process.geteuid?.() ?? 0;
  if (uid !== 0) {
    // a user's run: its groups go below a group delegated to the user, or the run is refused (src/cgroup/delegate.ts)
    const probe = { owner: ownerOf, read };
    hierarchies = delegatedHierarchies(need, hierarchies, parseProcCgroup(read('/proc/self/cgroup') ?? ''), mountinfo, probe, uid, (m) => new UsageError(m));
  }
  const mem = hierarchies.memory;
  if (limits.memSwap !== undefined && mem?.version === 1 && !existsSync(`${mem.mount}/memory.memsw.limit_in_bytes`)) {
    throw new UsageError('--mem-swap: the memory cgroup here does not account swap (boot with swapaccount=1)');
  }
  const given: Record<string, string> = {};
  for (const [k, v] of Object.entries({ 'mem-limit': args.memLimit, 'mem-swap': args.memSwap, 'cpu-shares': args.cpuShares, 'cpu-quota': args.cpuQuota, 'pid-max': args.pidMax })) {
    if (v !== undefined) given[k] = v;
  }
  return {
    limits, hierarchies, given,
    tools: { mkdir: tool('cgroup limits', 'mkdir', 'coreutils'), rmdir: tool('cgroup limits', 'rmdir', 'coreutils'), sleep: tool('cgroup limits', 'sleep', 'coreutils') },
  };
}

/** CPUs listed as "0-3,6" (/sys/devices/system/cpu/online). */
export function cpuList(text: string): number[] {
  return text.trim().split(',').filter(Boolean).flatMap((r) => {
    const [a, b] = r.split('-').map(Number) as [number, number | undefined];
    return Array.from({ length: (b ?? a) - a + 1 }, (_, i) => a + i);
  });
}

function validateCpu(mask: string | undefined): ExtraConfig['cpuMask'] {
  if (mask === undefined) return undefined;
  if (!/^(0x)?[0-9a-f]+$/i.test(mask) || /^(0x)?0+$/i.test(mask)) throw new UsageError(`--cpu '${mask}': expected a hexadecimal CPU mask such as 1 or 0x3 (as taskset)`);
  const bits = BigInt(`0x${mask.replace(/^0x/i, '')}`);
  const online = cpuList(read('/sys/devices/system/cpu/online') ?? '0');
  if (!online.some((c) => (bits >> BigInt(c)) & 1n)) throw new UsageError(`--cpu '${mask}': none of these CPUs is online (online: ${online.join(',')})`);
  return { mask, taskset: tool('--cpu', 'taskset', 'util-linux') };
}

/** -X/--X11: binds of the X11 socket directory and $XAUTHORITY (validate puts them before the user's binds). */
export function x11Binds(args: Pick<ExtraArgs, 'X11'>, env: NodeJS.ProcessEnv): Bind[] {
  if (!args.X11) return [];
  if (!env.DISPLAY) throw new UsageError('-X/--X11: $DISPLAY is empty: there is no X display to share');
  const binds: Bind[] = [];
  if (existsSync('/tmp/.X11-unix')) binds.push(parseBind('/tmp/.X11-unix'));
  else if (env.DISPLAY.startsWith(':')) throw new UsageError(`-X/--X11: DISPLAY=${env.DISPLAY} is local but /tmp/.X11-unix does not exist`);
  if (env.XAUTHORITY) {
    if (!existsSync(env.XAUTHORITY)) throw new UsageError(`-X/--X11: XAUTHORITY '${env.XAUTHORITY}' does not exist`);
    binds.push(parseBind(env.XAUTHORITY));
  }
  return binds;
}

/**
 * `--net WORD` where WORD is no mode: MINCS takes WORD as the command.  When
 * the container's root has no such command either, say both at once, before
 * anything is made (MINCS's test.d/03_network/parse.sh: `--net nonexist` fails).
 */
function checkNetWord(args: ExtraArgs & { command?: readonly string[] }, env: NodeJS.ProcessEnv, roots: readonly string[]): void {
  const word = args.command?.[0];
  if (args.net !== '' || !word || word.includes('/') || roots.length === 0) return;
  const path = (env.PATH || '/usr/local/bin:/usr/bin:/bin').split(':').filter((d) => d.startsWith('/'));
  for (const root of roots) {
    for (const d of path) if (existsSync(`${root}${d}/${word}`)) return;
  }
  throw new UsageError(`--net: '${word}' is neither a network mode (raw, raw,IFACE or dens) nor a command in the container's PATH`);
}

export function validateExtra(args: ExtraArgs & { command?: readonly string[] }, env: NodeJS.ProcessEnv = process.env, roots: readonly string[] = [], rootless = false): ExtraConfig {
  checkNetWord(args, env, roots);
  const out: { -readonly [K in keyof ExtraConfig]: ExtraConfig[K] } = {};
  const net = validateNet(args, env, rootless);
  if (net) out.net = net;
  const cgroup = validateCgroup(args);
  if (cgroup) out.cgroup = cgroup;
  const cpu = validateCpu(args.cpu);
  if (cpu) out.cpuMask = cpu;
  if (args.background) out.background = true;
  if (args.debugfs) {
    if (!/\tdebugfs$/m.test(filesystems())) throw new UsageError('--debugfs: this kernel has no debugfs');
    out.debugfs = true;
  }
  if (args.ftrace !== undefined) {
    let st;
    try {
      st = statSync(args.ftrace);
    } catch {
      throw new UsageError(`--ftrace '${args.ftrace}': no such file`);
    }
    if (!st.isFile()) throw new UsageError(`--ftrace '${args.ftrace}': not a file`);
    if (!/\ttracefs$/m.test(filesystems())) throw new UsageError('--ftrace: this kernel has no tracefs');
    out.ftrace = realpathSync(args.ftrace);
  }
  return out;
}
