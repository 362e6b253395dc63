/**
 * cgroup limits as data: --mem-limit, --mem-swap, --cpu-shares, --cpu-quota,
 * --pid-max, and where this host has each controller -- cgroup v2 (unified)
 * or v1, per controller (MINCS is v1 only; a hybrid host has both).
 */
import { UsageError } from '../errors.js';

export type Controller = 'memory' | 'cpu' | 'pids';

export interface Hierarchy {
  readonly version: 1 | 2;
  /** mount point of the hierarchy */
  readonly mount: string;
  /** the group the run's groups go below (a user's delegated group: src/cgroup/delegate.ts); the mount point when absent */
  readonly base?: string;
}

export type Hierarchies = Readonly<Partial<Record<Controller, Hierarchy>>>;

export interface Limits {
  /** bytes */
  readonly memLimit?: number;
  /** memory + swap, bytes (MINCS's meaning) */
  readonly memSwap?: number;
  readonly cpuShares?: number;
  /** microseconds per 100 ms period */
  readonly cpuQuota?: number;
  readonly pidMax?: number;
}

export interface CgroupConfig {
  readonly limits: Limits;
  /** the hierarchy of each controller the limits use */
  readonly hierarchies: Hierarchies;
  /** the options as given, for messages (--mem-limit 64M) */
  readonly given: Readonly<Record<string, string>>;
  readonly tools: { readonly mkdir: string; readonly rmdir: string; readonly sleep: string };
}

const UNITS: Record<string, number> = { '': 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40 };

/** 512M, 1G, 1024k, 4096 (bytes); a trailing B or iB is allowed. */
export function parseSize(option: string, text: string): number {
  const m = /^(\d+)(?:([kmgt])(?:i?b)?|b)?$/i.exec(text.trim());
  if (!m) throw new UsageError(`${option} '${text}': expected a size such as 512M or 1G`);
  const n = Number(m[1]) * UNITS[(m[2] ?? '').toLowerCase()]!;
  if (!Number.isSafeInteger(n) || n < 1 << 20) throw new UsageError(`${option} '${text}': too small (at least 1M)`);
  return n;
}

function integer(option: string, text: string, min: number, max: number): number {
  if (!/^\d+$/.test(text) || Number(text) < min || Number(text) > max) {
    throw new UsageError(`${option} '${text}': expected a whole number from ${min} to ${max}`);
  }
  return Number(text);
}

export interface LimitArgs {
  memLimit?: string;
  memSwap?: string;
  cpuShares?: string;
  cpuQuota?: string;
  pidMax?: string;
}

export function parseLimits(a: LimitArgs): Limits | null {
  const limits: { -readonly [K in keyof Limits]: Limits[K] } = {};
  if (a.memLimit !== undefined) limits.memLimit = parseSize('--mem-limit', a.memLimit);
  if (a.memSwap !== undefined) {
    limits.memSwap = parseSize('--mem-swap', a.memSwap);
    if (limits.memLimit === undefined) throw new UsageError('--mem-swap needs --mem-limit (it limits memory + swap)');
    if (limits.memSwap < limits.memLimit) throw new UsageError(`--mem-swap '${a.memSwap}' is below --mem-limit '${a.memLimit}' (it limits memory + swap)`);
  }
  if (a.cpuShares !== undefined) limits.cpuShares = integer('--cpu-shares', a.cpuShares, 2, 262144);
  if (a.cpuQuota !== undefined) limits.cpuQuota = integer('--cpu-quota', a.cpuQuota, 1000, 100000 * 1024);
  if (a.pidMax !== undefined) limits.pidMax = integer('--pid-max', a.pidMax, 1, 4194304);
  return Object.keys(limits).length > 0 ? limits : null;
}

/** The controllers limits need, with the option that needs each (for messages). */
export function neededControllers(l: Limits): Map<Controller, string> {
  const need = new Map<Controller, string>();
  if (l.memLimit !== undefined) need.set('memory', '--mem-limit');
  if (l.cpuShares !== undefined) need.set('cpu', '--cpu-shares');
  if (l.cpuQuota !== undefined) need.set('cpu', '--cpu-quota');
  if (l.pidMax !== undefined) need.set('pids', '--pid-max');
  return need;
}

const unescape = (p: string): string => p.replace(/\\(\d{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));

/**
 * Where each controller is, from /proc/self/mountinfo: a v1 hierarchy that
 * has it among its mount options, else the v2 hierarchy if its
 * cgroup.controllers lists it (a controller bound to v1 is not usable in v2).
 */
export function findHierarchies(mountinfo: string, v2controllers: (mount: string) => string | null): Hierarchies {
  const out: Partial<Record<Controller, Hierarchy>> = {};
  let v2: string | undefined;
  for (const line of mountinfo.split('\n')) {
    const [pre, post] = line.split(' - ');
    if (!pre || !post) continue;
    const mount = unescape(pre.split(' ')[4] ?? '');
    const [fstype, , superOpts = ''] = post.split(' ');
    if (fstype === 'cgroup') {
      for (const opt of superOpts.split(',')) {
        if ((opt === 'memory' || opt === 'cpu' || opt === 'pids') && !out[opt]) out[opt] = { version: 1, mount };
      }
    } else if (fstype === 'cgroup2' && v2 === undefined) {
      v2 = mount;
    }
  }
  if (v2 !== undefined) {
    const listed = (v2controllers(v2) ?? '').trim().split(/\s+/);
    for (const c of ['memory', 'cpu', 'pids'] as const) {
      if (!out[c] && listed.includes(c)) out[c] = { version: 2, mount: v2 };
    }
  }
  return out;
}

/** cgroup v2's cpu.weight for v1 cpu.shares (the conversion runc and crun use). */
export const sharesToWeight = (shares: number): number => Math.floor(1 + ((shares - 2) * 9999) / 262142);
