/**
 * The host side of a run at run time: lease the address, write ipv4, hosts
 * and resolv.conf, build the host plan (src/net/plan.ts, src/cgroup/plan.ts)
 * and wrap the launcher so libexec/minc-host runs it before the namespaces are
 * entered; push the undo (TEMPDIR/undo, run by run_undo) on the cleanup stack.
 * A run with none of these options gets the launcher unchanged.
 */
import { appendFileSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, statSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { MincError } from '../errors.js';
import { cgroupHostSteps, oomEvents } from '../cgroup/plan.js';
import { containerResolvConf, hostAddresses } from '../net/config.js';
import { forwardLoopback } from '../net/forward.js';
import { defaultRouteAddress, pastaArgv, slirpArgv, SLIRP, userNetResolvConf } from '../net/usermode.js';
import { startUserStack } from '../net/userstack.js';
import { networkInterfaces } from 'node:os';
import { hostsLine, leaseFile, leaseUndo, netHostSteps, netPrefix, netUnshare, type NetInput } from '../net/plan.js';
import type { Config } from '../options/validate.js';
import { describeStep, shQuote } from '../plan/render.js';
import type { Step } from '../plan/types.js';
import type { CleanupStack } from '../run/cleanup.js';
import type { Facts } from '../run/facts.js';
import { findTool as which } from './tools.js';
import { debug, debugEnabled, info } from '../run/log.js';
import { PACKAGE_ROOT } from '../where.js';
import type { HostPlan, HostStep } from './types.js';

export const HOST_PATH = join(PACKAGE_ROOT, 'libexec', 'minc-host');

/** The host stage text travels in MINC_HOST, like the namespace stage in MINC_STAGE. */
export const HOST_BOOT = '_h=$MINC_HOST; unset MINC_HOST; eval "$_h"';

/** Where the network state of this network namespace lives: lock, leases/, up, ip_forward. */
export const netStateDir = (ino: string): string => `/run/mincs/net/${ino}`;

export function netnsIno(): string {
  return String(statSync('/proc/self/ns/net').ino);
}

/** Variables of the host stage and of run_undo: tool paths, found the same way at run and at --gc time. */
export function hostVars(tempdir: string, ino: string, colour?: { on: string; off: string }): Record<string, string> {
  const t = (name: string): string => which(name) ?? name;
  return {
    MINC_DEBUG: debugEnabled() ? '1' : '0', MINC_DBG_ON: colour?.on ?? '', MINC_DBG_OFF: colour?.off ?? '',
    MINC_TEMPDIR: tempdir, MINC_NETNS_INO: ino,
    MINC_IP: t('ip'), MINC_IPT: t('iptables'), MINC_IPTR: t('iptables-restore'), MINC_FLOCK: t('flock'),
    MINC_MKDIRP: t('mkdir'), MINC_RMDIR: t('rmdir'), MINC_RM: t('rm'), MINC_SLEEP: t('sleep'),
  };
}

const word = (a: Step['argv'][number]): string => (typeof a === 'string' ? shQuote(a) : a.sh);

/** One line of TEMPDIR/undo. */
export const undoLine = (st: Step): string => `undo_step ${shQuote(st.why)} ${st.argv.map(word).join(' ')}`;

/** The host plan as sh: libexec/minc-host, the variables, the steps, then exec of the launcher. */
export function renderHostScript(host: string, vars: Record<string, string>, steps: readonly HostStep[]): string {
  const lines: string[] = [];
  for (const st of steps) {
    if (st.undo) lines.push(`  undo_push ${shQuote(undoLine(st.undo))}`);
    lines.push(`  step ${shQuote(st.why)} ${st.argv.map(word).join(' ')}`);
  }
  const v = Object.entries(vars).map(([k, x]) => `${k}=${shQuote(x)}`);
  return `${host}\n${v.join('\n')}\nminc_host_plan() {\n${lines.join('\n') || '  :'}\n}\nminc_host_plan\nexec "$@"\n`;
}

/** The launcher with the host plan in front: setpriv ... -- sh -c HOST_BOOT minc-host [PREFIX...] unshare [--net] ... */
export function wrapLauncher(argv: readonly string[], unshare: string, plan: HostPlan, sh?: string): string[] {
  const at = argv.indexOf(unshare);
  if (at < 0) throw new MincError('internal: no unshare in the launcher');
  const tail = [...plan.prefix, unshare, ...plan.unshare, ...argv.slice(at + 1)];
  if (plan.steps.length === 0) return [...argv.slice(0, at), ...tail];
  if (!sh) throw new MincError('sh not found on this host');
  return [...argv.slice(0, at), sh, '-c', HOST_BOOT, 'minc-host', ...tail];
}

/** Does this run need anything on the host side? (A plain run pays one property check.) */
export const needsHost = (c: Config): boolean => Boolean(c.net || c.cgroup || c.cpuMask);

/** The plan for config, given the leased address (or a placeholder for --dry-run). */
export function hostPlan(config: Config, tempdir: string, net?: NetInput): HostPlan {
  const steps: HostStep[] = [];
  const prefix: string[] = [];
  const unshare: string[] = [];
  if (config.net?.usermode) {
    unshare.push('--net'); // a rootless dens run: its stack is started by minc once the namespace exists (src/net/userstack.ts)
  } else if (config.net && net) {
    steps.push(...netHostSteps(net));
    prefix.push(...netPrefix(config.net, tempdir));
    unshare.push(...netUnshare(config.net));
  }
  if (config.cgroup) steps.push(...cgroupHostSteps(config.cgroup, tempdir));
  if (config.cpuMask) prefix.unshift(config.cpuMask.taskset, config.cpuMask.mask);
  return { steps, prefix, unshare };
}

/** Take the first free address: leases/ADDR made with O_EXCL, so concurrent runs never share one. */
export function lease(stateDir: string, addresses: readonly string[], tempdir: string): string | null {
  mkdirSync(join(stateDir, 'leases'), { recursive: true, mode: 0o755 });
  for (const a of addresses) {
    let fd: number;
    try {
      fd = openSync(leaseFile(stateDir, a), 'wx', 0o644);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') continue;
      throw err;
    }
    writeSync(fd, `${tempdir}\n`);
    closeSync(fd);
    return a;
  }
  return null;
}

function rmLease(file: string): void {
  try {
    unlinkSync(file);
  } catch {
    /* gone already */
  }
}

/** Run the undos of TEMPDIR/undo (last first), then remove the file. */
export function runUndo(tempdir: string, colour?: { on: string; off: string }): void {
  const file = join(tempdir, 'undo');
  if (!existsSync(file)) return;
  const sh = which('sh') ?? '/bin/sh';
  const vars = hostVars(tempdir, netnsIno(), colour);
  const script = `${readFileSync(HOST_PATH, 'utf8')}\n${Object.entries(vars).map(([k, v]) => `${k}=${shQuote(v)}`).join('\n')}\nrun_undo "$MINC_TEMPDIR/undo"\n`;
  debug('Undo the host-side setup, last first (TEMPDIR/undo)', `${sh} -c '... run_undo ${shQuote(file)}'`);
  const { spawnSync } = process.getBuiltinModule('node:child_process'); // loaded only for runs that have host steps to undo
  const r = spawnSync(sh, ['-c', script, 'minc-undo'], { stdio: ['ignore', 'ignore', 'inherit'] });
  if (r.error) throw r.error;
  // (a cgroup not removed: the undo file stays, and with it the temp dir, for minc --gc to try again)
  if (r.status !== 0) throw new MincError(`the host-side setup of ${tempdir} is not all undone: it is kept for minc --gc to try again`);
  unlinkSync(file);
}

/** The OOM kills the kernel counted in the memory group (v2 memory.events, v1 memory.oom_control). */
export function oomKills(file: string): number {
  try {
    return Number(/^oom_kill (\d+)$/m.exec(readFileSync(file, 'utf8'))?.[1] ?? 0);
  } catch {
    return 0;
  }
}

export interface HostSide {
  /** the launcher argv with the host stage in front (unchanged when nothing is needed) */
  wrap(argv: readonly string[]): string[];
  /** environment the launcher needs (MINC_HOST) */
  readonly env: Readonly<Record<string, string>>;
}

const NOTHING: HostSide = { wrap: (argv) => [...argv], env: {} };

/** The address, ipv4, hosts and resolv.conf of a dens run; pushes the undo of the lease. */
function prepareNet(config: Config, facts: Facts, tempdir: string, ino: string): NetInput | undefined {
  const net = config.net;
  if (net?.usermode) {
    writeFileSync(join(tempdir, 'resolv.conf'), userNetResolvConf(net.usermode.kind));
    const address = net.usermode.kind === 'slirp4netns' ? SLIRP.address : defaultRouteAddress(readFileSync('/proc/net/route', 'utf8'), networkInterfaces());
    if (address) appendFileSync(join(tempdir, 'hosts'), hostsLine(address, config.name ?? facts.hostname));
    return { net, tempdir, address: '', stateDir: '', netnsIno: ino };
  }
  if (!net || (net.mode === 'raw' && !net.iface)) return net ? { net, tempdir, address: '', stateDir: '', netnsIno: ino } : undefined;
  const stateDir = netStateDir(ino);
  writeFileSync(join(tempdir, 'netns'), `${ino}\n`);
  if (net.mode === 'raw') return { net, tempdir, address: '', stateDir, netnsIno: ino };
  const address = lease(stateDir, hostAddresses(net.subnet!), tempdir);
  if (!address) throw new MincError(`--net dens: no free address left in ${net.subnet!.text} (leases in ${stateDir}/leases)`);
  const input: NetInput = { net, tempdir, address, stateDir, netnsIno: ino };
  appendFileSync(join(tempdir, 'undo'), `${undoLine(leaseUndo(input))}\n`);
  debug(`Lease the address ${address} (${leaseFile(stateDir, address)}, made with O_EXCL)`);
  writeFileSync(join(tempdir, 'ipv4'), `${address}\n`);
  appendFileSync(join(tempdir, 'hosts'), hostsLine(address, config.name ?? facts.hostname));
  let resolved: string | null = null;
  try {
    resolved = readFileSync('/run/systemd/resolve/resolv.conf', 'utf8');
  } catch {
    /* no systemd-resolved */
  }
  writeFileSync(join(tempdir, 'resolv.conf'), containerResolvConf(readFileSync(join(tempdir, 'resolv.conf'), 'utf8'), resolved));
  return input;
}

/**
 * Prepare the host side of a run whose temp dir is ready.  Everything made
 * from here on has its undo in TEMPDIR/undo, run from the cleanup stack
 * (and by minc --gc if minc is killed).
 */
export function prepareHost(config: Config, facts: Facts, tempdir: string, cleanup: CleanupStack, colour?: { on: string; off: string }): HostSide {
  if (!needsHost(config)) return NOTHING;
  if (existsSync(join(tempdir, 'undo'))) runUndo(tempdir, colour); // a reused dir of a killed run
  const ino = config.net ? netnsIno() : '';
  const oom = config.cgroup ? oomEvents(config.cgroup, tempdir) : undefined;
  let net: NetInput | undefined;
  cleanup.push('Undo the network and cgroup setup', () => {
    if (oom && oomKills(oom) > 0) {
      const n = oomKills(oom);
      info(`the memory limit (--mem-limit ${config.cgroup!.given['mem-limit']}) was hit: the kernel's OOM killer killed ${n} process${n > 1 ? 'es' : ''} of the container`);
    }
    // the lease file goes first, from here: one exec less in the undo (lease_release skips a missing one)
    if (net?.address) rmLease(leaseFile(net.stateDir, net.address));
    runUndo(tempdir, colour);
  });
  net = prepareNet(config, facts, tempdir, ino);
  if (config.net?.usermode) {
    // started before the launcher: it watches the temp dir for the stage's mark (src/net/userstack.ts)
    const stack = startUserStack(config.net, tempdir);
    // its exit (~40 ms for pasta) overlaps the rest of the cleanup: signalled first, waited for last
    cleanup.last(`Wait for ${config.net.usermode.kind} to exit`, () => stack.exited());
    cleanup.push(`Stop ${config.net.usermode.kind}`, () => stack.stop());
  }
  if (net?.address && net.net.ports.some((p) => p.proto === 'tcp')) {
    // 127.0.0.1 too, where docker users try first (src/net/forward.ts); closed before the undo runs
    const fwd = forwardLoopback(net.address, net.net.ports, info);
    cleanup.push('Close the loopback forwarders of -p', () => fwd.close());
    debug(`Forward 127.0.0.1:${net.net.ports.filter((p) => p.proto === 'tcp').map((p) => p.hostPort).join(',')} to ${net.address} (in minc's own process)`);
  }
  const plan = hostPlan(config, tempdir, net);
  const unshare = facts.tools.unshare ?? 'unshare';
  if (plan.steps.length === 0) return { wrap: (argv) => wrapLauncher(argv, unshare, plan), env: {} };
  const script = renderHostScript(readFileSync(HOST_PATH, 'utf8'), hostVars(tempdir, ino, colour), plan.steps);
  return { wrap: (argv) => wrapLauncher(argv, unshare, plan, facts.tools.sh), env: { MINC_HOST: script } };
}

/** --dry-run: the launcher as a run would wrap it. */
export function dryLauncher(config: Config, facts: Facts, tempdir: string, argv: readonly string[]): string[] {
  if (!needsHost(config)) return [...argv];
  const ino = config.net ? netnsIno() : '';
  const net = config.net ? { net: config.net, tempdir, address: 'ADDR', stateDir: netStateDir(ino), netnsIno: ino } : undefined;
  return wrapLauncher(argv, facts.tools.unshare ?? 'unshare', hostPlan(config, tempdir, net), facts.tools.sh);
}

/** A network namespace of this inode is still there: a process in it, or a name under /run/netns. */
export function netnsAlive(ino: string, procDir = '/proc', named = '/run/netns'): boolean {
  const has = (p: string): boolean => {
    try {
      return String(statSync(p).ino) === ino;
    } catch {
      return false;
    }
  };
  const list = (d: string): string[] => {
    try {
      return readdirSync(d);
    } catch {
      return [];
    }
  };
  return list(named).some((n) => has(join(named, n))) || list(procDir).some((p) => /^\d+$/.test(p) && has(join(procDir, p, 'ns/net')));
}

/**
 * minc --gc, for a dir whose minc is dead: run its undos.  Network undos only
 * take effect in the network namespace of the run: from another one, say so
 * and leave the dir (false).
 */
export function undoLeftovers(dir: string): boolean {
  if (!existsSync(join(dir, 'undo'))) return true;
  let ino = '';
  try {
    ino = readFileSync(join(dir, 'netns'), 'utf8').trim();
  } catch {
    /* no network setup */
  }
  // (a namespace that is gone took its veth, bridge and rules with it: the undo's in_net lines then do
  // nothing from here, and the rest, cgroups, is undone as usual)
  if (ino && ino !== netnsIno() && netnsAlive(ino)) {
    info(`${dir}: its network setup is in another network namespace (inode ${ino}): run minc --gc there`);
    return false;
  }
  try {
    runUndo(dir);
  } catch (err) {
    info(err instanceof Error ? err.message : String(err));
    return false;
  }
  info(`undid the network and cgroup setup of ${dir}`);
  return true;
}

/** --dry-run: the host side as lines (the lease shown with a placeholder address). */
export function describeHost(config: Config, tempdir: string): string[] {
  if (!needsHost(config)) return [];
  const ino = config.net ? netnsIno() : '';
  const net = config.net ? { net: config.net, tempdir, address: 'ADDR', stateDir: netStateDir(ino), netnsIno: ino } : undefined;
  const out: string[] = [];
  if (config.net?.usermode) {
    const u = config.net.usermode;
    out.push(`:;: Once the stage has written its pid (PID) to TEMPDIR/netpid, start ${u.kind} against its network and user namespaces (minc's own process), then let the stage go on (TEMPDIR/netgo) ;:`);
    out.push(`+ ${(u.kind === 'pasta' ? pastaArgv(u, 0, `${tempdir}/net.pid`, config.net.ports) : slirpArgv(u, 0, config.net.ports.length ? `${tempdir}/slirp.sock` : null)).map((a) => shQuote(a.replace('/proc/0/', '/proc/PID/'))).join(' ')}`);
  } else if (config.net?.mode === 'dens' && net) {
    out.push(`:;: Lease an address of ${config.net.subnet!.text}: the first free ${net.stateDir}/leases/ADDR, made with O_EXCL ;:`);
    out.push(`:;: Record its undo in TEMPDIR/undo ;:\n+ ${undoLine(leaseUndo(net))}`);
  }
  for (const st of hostPlan(config, tempdir, net).steps) {
    if (st.undo) out.push(`:;: Record the undo of the next step in TEMPDIR/undo ;:\n+ ${undoLine(st.undo)}`);
    out.push(describeStep(st));
  }
  return out;
}
