/**
 * Pure functions from cgroup limits to host steps (MINCS's minc-cage, for
 * cgroup v2 and v1): a group per container, mincs/<temp dir name>, under the
 * hierarchy of each controller; the limits written; the host stage joins it
 * before entering the namespaces, so the whole container is inside.  The
 * undo (recorded first) removes the group once its processes are gone.
 */
import { basename } from 'node:path';
import type { HostStep } from '../host/types.js';
import type { Step } from '../plan/types.js';
import { sharesToWeight, type CgroupConfig, type Controller } from './config.js';

export interface Group {
  readonly version: 1 | 2;
  readonly dir: string;
  readonly controllers: readonly Controller[];
}

/** The groups of a run: one per v1 hierarchy used, one in the v2 hierarchy. */
export function groups(cg: CgroupConfig, tempdir: string): Group[] {
  const name = basename(tempdir);
  const byDir = new Map<string, { version: 1 | 2; controllers: Controller[] }>();
  const { limits: l, hierarchies: h } = cg;
  const used: Controller[] = [];
  if (l.memLimit !== undefined) used.push('memory');
  if (l.cpuShares !== undefined || l.cpuQuota !== undefined) used.push('cpu');
  if (l.pidMax !== undefined) used.push('pids');
  for (const c of used) {
    const hier = h[c];
    if (!hier) throw new Error(`no ${c} cgroup controller`);
    const dir = `${hier.base ?? hier.mount}/mincs/${name}`;
    const g = byDir.get(dir) ?? { version: hier.version, controllers: [] };
    g.controllers.push(c);
    byDir.set(dir, g);
  }
  return [...byDir].map(([dir, g]) => ({ dir, ...g }));
}

const s = (why: string, ...argv: string[]): Step => ({ why, argv });

/**
 * Processes minc's set-up inside the group may use at once (the stage, its
 * lanes, a tool each): pids.max is --pid-max plus this until the command is
 * about to start, then --pid-max plus init (libexec/minc-stage's pids_limit).
 */
export const SETUP_PIDS = 16;

/** The pids.max file of the run's group, for the stage to lower the limit to the command's. */
export function pidsMaxFile(cg: CgroupConfig, tempdir: string): string | undefined {
  if (cg.limits.pidMax === undefined) return undefined;
  return `${groups(cg, tempdir).find((g) => g.controllers.includes('pids'))!.dir}/pids.max`;
}

/** Where the kernel counts OOM kills of the memory group (read after the run). */
export function oomEvents(cg: CgroupConfig, tempdir: string): string | undefined {
  const g = groups(cg, tempdir).find((x) => x.controllers.includes('memory'));
  if (!g) return undefined;
  return g.version === 2 ? `${g.dir}/memory.events` : `${g.dir}/memory.oom_control`;
}

function settings(g: Group, cg: CgroupConfig): Step[] {
  const l = cg.limits;
  const out: Step[] = [];
  const put = (why: string, value: number | string, file: string): void => {
    out.push(s(why, 'put', String(value), `${g.dir}/${file}`));
  };
  const v2 = g.version === 2;
  if (g.controllers.includes('memory') && l.memLimit !== undefined) {
    put(`Memory limit ${cg.given['mem-limit']}`, l.memLimit, v2 ? 'memory.max' : 'memory.limit_in_bytes');
    if (l.memSwap !== undefined) {
      if (v2) put(`Swap limit: --mem-swap ${cg.given['mem-swap']} less the memory limit`, l.memSwap - l.memLimit, 'memory.swap.max');
      else put(`Memory + swap limit ${cg.given['mem-swap']}`, l.memSwap, 'memory.memsw.limit_in_bytes');
    }
  }
  if (g.controllers.includes('cpu')) {
    if (l.cpuShares !== undefined) {
      if (v2) put(`CPU weight ${sharesToWeight(l.cpuShares)} (for --cpu-shares ${l.cpuShares})`, sharesToWeight(l.cpuShares), 'cpu.weight');
      else put(`CPU shares ${l.cpuShares}`, l.cpuShares, 'cpu.shares');
    }
    if (l.cpuQuota !== undefined) {
      if (v2) put(`CPU quota ${l.cpuQuota} us per 100000 us`, `${l.cpuQuota} 100000`, 'cpu.max');
      else {
        put('CPU period 100000 us', 100000, 'cpu.cfs_period_us');
        put(`CPU quota ${l.cpuQuota} us per period`, l.cpuQuota, 'cpu.cfs_quota_us');
      }
    }
  }
  if (g.controllers.includes('pids') && l.pidMax !== undefined) {
    put(`Room for minc's own set-up (up to ${SETUP_PIDS} processes) above the ${l.pidMax} of --pid-max, until the command starts`, l.pidMax + SETUP_PIDS, 'pids.max');
  }
  return out;
}

export function cgroupHostSteps(cg: CgroupConfig, tempdir: string): HostStep[] {
  const gs = groups(cg, tempdir);
  if (gs.length === 0) return [];
  const dirs = gs.map((g) => g.dir);
  const which = gs.map((g) => `v${g.version} ${g.controllers.join('+')}`).join(', ');
  const steps: HostStep[] = [{
    ...s(`cgroups for the container (${which})`, 'cg_make', ...dirs),
    undo: s('Remove the cgroups of the container', 'cg_remove', ...dirs),
  }];
  for (const g of gs) {
    if (g.version === 2) steps.push(s(`Enable ${g.controllers.join(', ')} for the groups below ${g.dir.replace(/\/[^/]*\/[^/]*$/, '')}`, 'cg_enable', g.dir, g.controllers.map((c) => `+${c}`).join(' ')));
    steps.push(...settings(g, cg));
  }
  for (const g of gs) steps.push(s(`Enter ${g.dir}: the container starts inside`, 'cg_join', g.dir));
  return steps;
}
