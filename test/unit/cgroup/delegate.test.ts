import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hierarchy } from '../../../src/cgroup/config.js';
import { delegatedHierarchies, delegatedHierarchy, mountRoot, parseProcCgroup, type Probe } from '../../../src/cgroup/delegate.js';
import { groups } from '../../../src/cgroup/plan.js';

const ME = process.getuid!();

const HYBRID_CG = '9:name=systemd:/\n8:pids:/deleg\n4:memory:/deleg/inner\n2:cpu,cpuacct:/\n0::/\n';
const V2_CG = '0::/user.slice/user-1000.slice/user@1000.service/app.slice/run-r1.scope\n';

describe('parseProcCgroup', () => {
  it('reads v2 and each v1 controller of a joined hierarchy', () => {
    expect(parseProcCgroup(HYBRID_CG)).toEqual({ v2: '/', v1: { 'name=systemd': '/', pids: '/deleg', memory: '/deleg/inner', cpu: '/', cpuacct: '/' } });
    expect(parseProcCgroup(V2_CG)).toEqual({ v2: '/user.slice/user-1000.slice/user@1000.service/app.slice/run-r1.scope', v1: {} });
    expect(parseProcCgroup('garbage\n')).toEqual({ v1: {} });
  });
});

describe('mountRoot', () => {
  it('gives the mounted root of a cgroup hierarchy (a container sees a subtree)', () => {
    const mi = '35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n41 31 0:38 /a/b /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n';
    expect(mountRoot(mi, '/sys/fs/cgroup/memory')).toBe('/');
    expect(mountRoot(mi, '/sys/fs/cgroup')).toBe('/a/b');
    expect(mountRoot(mi, '/elsewhere')).toBeNull();
  });
});

/**
 * A fake cgroup tree in a test dir: real dirs and files; a path listed in
 * rootOwned shows as root's (a unit test cannot chown), everything else as
 * the tree's owner (this test's uid).
 */
let tree: string;
const rootOwned = new Set<string>();
const probe: Probe = {
  owner: (p) => {
    try {
      const st = statSync(p);
      return rootOwned.has(p) || rootOwned.has(p.replace(/\/cgroup\.procs$/, '')) ? (ME === 0 ? 4242 : 0) : st.uid;
    } catch {
      return null;
    }
  },
  read: (p) => {
    try {
      return readFileSync(p, 'utf8');
    } catch {
      return null;
    }
  },
};
function group(path: string, files: Record<string, string> = {}): string {
  const d = `${tree}${path}`;
  mkdirSync(d, { recursive: true });
  writeFileSync(`${d}/cgroup.procs`, '');
  for (const [f, t] of Object.entries(files)) writeFileSync(`${d}/${f}`, t);
  return d;
}

beforeAll(() => {
  tree = mkdtempSync(`${tmpdir()}/mincs-cgtree-`);
});
afterAll(() => rmSync(tree, { recursive: true, force: true }));

describe('delegatedHierarchy, cgroup v1', () => {
  it('the topmost of the user\'s own groups above the one minc runs in', () => {
    const mount = `${tree}/v1/memory`;
    group('/v1/memory');
    rootOwned.add(mount);
    group('/v1/memory/deleg');
    group('/v1/memory/deleg/inner');
    const h: Hierarchy = { version: 1, mount };
    const mi = `35 31 0:32 / ${mount} rw - cgroup cgroup rw,memory\n`;
    const d = delegatedHierarchy('memory', h, parseProcCgroup(HYBRID_CG), mi, probe, ME);
    expect(d).toEqual({ ok: true, hierarchy: { version: 1, mount, base: `${mount}/deleg` } });
    // the run's group goes below it
    const cg = { limits: { memLimit: 64 << 20 }, hierarchies: { memory: (d as { hierarchy: Hierarchy }).hierarchy }, given: {}, tools: { mkdir: 'mkdir', rmdir: 'rmdir', sleep: 'sleep' } };
    expect(groups(cg, '/run/user/1/minc1-x')[0]!.dir).toBe(`${mount}/deleg/mincs/minc1-x`);
  });

  it('a group that is not the user\'s: why, and no base', () => {
    const mount = `${tree}/v1/pids`;
    group('/v1/pids');
    rootOwned.add(mount);
    group('/v1/pids/deleg');
    rootOwned.add(`${mount}/deleg`);
    const d = delegatedHierarchy('pids', { version: 1, mount }, parseProcCgroup(HYBRID_CG), '', probe, ME);
    expect(d).toEqual({ ok: false, why: `minc runs in ${mount}/deleg (cgroup v1, ${mount}), which is not yours` });
    // minc at the root of the hierarchy (where it runs by default)
    const cpu = delegatedHierarchy('cpu', { version: 1, mount }, parseProcCgroup(HYBRID_CG), '', probe, ME);
    expect(cpu.ok).toBe(false);
  });

  it('delegatedHierarchies: one clear error naming the option and what to do', () => {
    const mount = `${tree}/v1/pids`;
    const need = new Map([['pids', '--pid-max']] as const);
    expect(() => delegatedHierarchies(need, { pids: { version: 1, mount } }, parseProcCgroup(HYBRID_CG), '', probe, ME, (m) => new Error(m)))
      .toThrow(/^--pid-max without root needs a cgroup delegated to you: minc runs in .* which is not yours; cgroup v1 has no delegation of its own: an admin makes a group/);
  });
});

describe('delegatedHierarchy, cgroup v2', () => {
  const svc = '/user.slice/user-1000.slice/user@1000.service';
  let mount: string;
  beforeAll(() => {
    mount = `${tree}/v2`;
    group('/v2', { 'cgroup.controllers': 'cpu memory pids hugetlb\n' });
    rootOwned.add(mount);
    group(`/v2/user.slice`);
    rootOwned.add(`${mount}/user.slice`);
    group(`/v2/user.slice/user-1000.slice`);
    rootOwned.add(`${mount}/user.slice/user-1000.slice`);
    group(`/v2${svc}`, { 'cgroup.controllers': 'memory pids\n', 'cgroup.subtree_control': 'memory pids\n' });
    group(`/v2${svc}/app.slice`, { 'cgroup.controllers': 'memory pids\n' });
    group(`/v2${svc}/app.slice/run-r1.scope`, { 'cgroup.controllers': 'memory pids\n', 'cgroup.subtree_control': '' });
  });

  it('minc in a unit of the user\'s manager: the groups go below user@UID.service', () => {
    const h: Hierarchy = { version: 2, mount };
    expect(delegatedHierarchy('memory', h, parseProcCgroup(V2_CG), '', probe, ME)).toEqual({ ok: true, hierarchy: { ...h, base: `${mount}${svc}` } });
  });

  it('a controller the service is not given: why', () => {
    const d = delegatedHierarchy('cpu', { version: 2, mount }, parseProcCgroup(V2_CG), '', probe, ME);
    expect(d).toEqual({ ok: false, why: `your delegated group ${mount}${svc} is not given the cpu controller (its cgroup.controllers)` });
  });

  it('minc in a session scope (root\'s, outside the service): no delegation', () => {
    group('/v2/user.slice/user-1000.slice/session-2.scope');
    rootOwned.add(`${mount}/user.slice/user-1000.slice/session-2.scope`);
    const d = delegatedHierarchy('memory', { version: 2, mount }, parseProcCgroup('0::/user.slice/user-1000.slice/session-2.scope\n'), '', probe, ME);
    expect(d.ok).toBe(false);
  });

  it('minc in the delegated group itself: usable only where it hands the controller down already', () => {
    group('/v2/deleg.scope', { 'cgroup.controllers': 'memory pids\n', 'cgroup.subtree_control': 'pids\n' });
    const own = parseProcCgroup('0::/deleg.scope\n');
    expect(delegatedHierarchy('pids', { version: 2, mount }, own, '', probe, ME)).toEqual({ ok: true, hierarchy: { version: 2, mount, base: `${mount}/deleg.scope` } });
    const d = delegatedHierarchy('memory', { version: 2, mount }, own, '', probe, ME);
    expect(d.ok).toBe(false);
    expect((d as { why: string }).why).toMatch(/lets no process sit in a group that hands memory down/);
  });

  it('a mounted subtree (a cgroup namespace\'s view): paths are taken below the mount\'s root', () => {
    const mi = `41 31 0:38 ${svc} ${mount}${svc} rw - cgroup2 cgroup2 rw\n`;
    const h: Hierarchy = { version: 2, mount: `${mount}${svc}` };
    expect(delegatedHierarchy('pids', h, parseProcCgroup(V2_CG), mi, probe, ME)).toEqual({ ok: true, hierarchy: { ...h, base: `${mount}${svc}` } });
    expect(delegatedHierarchy('pids', h, parseProcCgroup('0::/elsewhere\n'), mi, probe, ME)).toEqual({ ok: false, why: `minc's pids group /elsewhere is not below ${mount}${svc}` });
  });
});
