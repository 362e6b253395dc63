import { describe, expect, it } from 'vitest';
import { UsageError } from '../../../src/errors.js';
import { findHierarchies, parseLimits, parseSize, sharesToWeight, type CgroupConfig, type Hierarchies } from '../../../src/cgroup/config.js';
import { cgroupHostSteps, groups, oomEvents } from '../../../src/cgroup/plan.js';

const HYBRID = [
  '25 20 0:22 / /sys/fs/cgroup rw - tmpfs tmpfs rw,mode=755',
  '26 25 0:23 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw',
  '27 25 0:24 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu',
  '28 25 0:25 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory',
  '29 25 0:26 / /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids',
].join('\n');
const V2 = '30 20 0:27 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate';

describe('findHierarchies', () => {
  it('prefers a v1 hierarchy that has the controller, then v2 if it lists it (hybrid)', () => {
    expect(findHierarchies(HYBRID, () => 'hugetlb\n')).toEqual({
      cpu: { version: 1, mount: '/sys/fs/cgroup/cpu' }, memory: { version: 1, mount: '/sys/fs/cgroup/memory' }, pids: { version: 1, mount: '/sys/fs/cgroup/pids' },
    });
  });

  it('finds v2 controllers on a unified host, and none that it does not list', () => {
    expect(findHierarchies(V2, () => 'cpuset cpu io memory pids\n')).toEqual({
      cpu: { version: 2, mount: '/sys/fs/cgroup' }, memory: { version: 2, mount: '/sys/fs/cgroup' }, pids: { version: 2, mount: '/sys/fs/cgroup' },
    });
    expect(findHierarchies(V2, () => 'memory\n')).toEqual({ memory: { version: 2, mount: '/sys/fs/cgroup' } });
    expect(findHierarchies('', () => null)).toEqual({});
  });

  it('reads cpu from a co-mounted cpu,cpuacct hierarchy', () => {
    expect(findHierarchies('27 25 0:24 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct', () => null).cpu)
      .toEqual({ version: 1, mount: '/sys/fs/cgroup/cpu,cpuacct' });
  });
});

describe('limits', () => {
  it('sizes take 512M, 1G, k and bytes', () => {
    expect(parseSize('--mem-limit', '512M')).toBe(512 * 2 ** 20);
    expect(parseSize('--mem-limit', '1G')).toBe(2 ** 30);
    expect(parseSize('--mem-limit', '2048k')).toBe(2 ** 21);
    expect(parseSize('--mem-limit', '1GiB')).toBe(2 ** 30);
    expect(parseSize('--mem-limit', '1048576')).toBe(2 ** 20);
    expect(() => parseSize('--mem-limit', '12Q')).toThrow(UsageError);
    expect(() => parseSize('--mem-limit', '1k')).toThrow(/too small/);
  });

  it('checks ranges and that --mem-swap comes with --mem-limit and is not below it', () => {
    expect(parseLimits({})).toBeNull();
    expect(parseLimits({ memLimit: '64M', memSwap: '128M', cpuShares: '512', cpuQuota: '50000', pidMax: '20' }))
      .toEqual({ memLimit: 64 * 2 ** 20, memSwap: 128 * 2 ** 20, cpuShares: 512, cpuQuota: 50000, pidMax: 20 });
    expect(() => parseLimits({ memSwap: '1G' })).toThrow('--mem-swap needs --mem-limit');
    expect(() => parseLimits({ memLimit: '1G', memSwap: '512M' })).toThrow(/below --mem-limit/);
    expect(() => parseLimits({ cpuQuota: '10' })).toThrow(/--cpu-quota '10'/);
    expect(() => parseLimits({ pidMax: 'x' })).toThrow(/--pid-max 'x'/);
    expect(() => parseLimits({ cpuShares: '1' })).toThrow(/--cpu-shares/);
  });

  it('converts shares to a v2 weight as runc does', () => {
    expect(sharesToWeight(2)).toBe(1);
    expect(sharesToWeight(1024)).toBe(39);
    expect(sharesToWeight(262144)).toBe(10000);
  });
});

const TOOLS = { mkdir: '/bin/mkdir', rmdir: '/bin/rmdir', sleep: '/bin/sleep' };
const cfg = (h: Hierarchies, limits: CgroupConfig['limits']): CgroupConfig => ({
  limits, hierarchies: h, tools: TOOLS, given: { 'mem-limit': '64M', 'mem-swap': '96M' },
});
const v1 = findHierarchies(HYBRID, () => '');
const v2 = findHierarchies(V2, () => 'cpu memory pids');
const all = { memLimit: 64 * 2 ** 20, memSwap: 96 * 2 ** 20, cpuShares: 512, cpuQuota: 50000, pidMax: 20 };

describe('cgroup steps', () => {
  it('v1: a group per hierarchy under mincs/<temp dir name>, v1 files, join last; removal is the undo of the mkdir', () => {
    const steps = cgroupHostSteps(cfg(v1, all), '/run/minc1-abcdef');
    const mem = '/sys/fs/cgroup/memory/mincs/minc1-abcdef';
    expect(steps[0]!.argv).toEqual(['cg_make', mem, '/sys/fs/cgroup/cpu/mincs/minc1-abcdef', '/sys/fs/cgroup/pids/mincs/minc1-abcdef']);
    expect(steps[0]!.undo?.argv).toEqual(['cg_remove', ...steps[0]!.argv.slice(1)]);
    const puts = steps.filter((s) => s.argv[0] === 'put').map((s) => s.argv.slice(1));
    expect(puts).toEqual([
      [String(64 * 2 ** 20), `${mem}/memory.limit_in_bytes`],
      [String(96 * 2 ** 20), `${mem}/memory.memsw.limit_in_bytes`],
      ['512', '/sys/fs/cgroup/cpu/mincs/minc1-abcdef/cpu.shares'],
      ['100000', '/sys/fs/cgroup/cpu/mincs/minc1-abcdef/cpu.cfs_period_us'],
      ['50000', '/sys/fs/cgroup/cpu/mincs/minc1-abcdef/cpu.cfs_quota_us'],
      // --pid-max 20 plus room for minc's set-up (SETUP_PIDS); the stage lowers it when the command starts
      ['36', '/sys/fs/cgroup/pids/mincs/minc1-abcdef/pids.max'],
    ]);
    expect(steps.slice(-3).map((s) => s.argv[0])).toEqual(['cg_join', 'cg_join', 'cg_join']);
    expect(oomEvents(cfg(v1, all), '/run/minc1-abcdef')).toBe(`${mem}/memory.oom_control`);
  });

  it('v2: one group, controllers enabled for it, v2 files (swap is memory+swap less memory)', () => {
    const c = cfg(v2, all);
    const g = '/sys/fs/cgroup/mincs/minc1-abcdef';
    expect(groups(c, '/run/minc1-abcdef')).toEqual([{ dir: g, version: 2, controllers: ['memory', 'cpu', 'pids'] }]);
    const steps = cgroupHostSteps(c, '/run/minc1-abcdef');
    expect(steps.map((s) => s.argv)).toEqual([
      ['cg_make', g],
      ['cg_enable', g, '+memory +cpu +pids'],
      ['put', String(64 * 2 ** 20), `${g}/memory.max`],
      ['put', String(32 * 2 ** 20), `${g}/memory.swap.max`],
      ['put', '20', `${g}/cpu.weight`],
      ['put', '50000 100000', `${g}/cpu.max`],
      ['put', '36', `${g}/pids.max`],
      ['cg_join', g],
    ]);
    expect(oomEvents(c, '/run/minc1-abcdef')).toBe(`${g}/memory.events`);
  });

  it('only the controllers the limits need', () => {
    const steps = cgroupHostSteps(cfg(v1, { pidMax: 5 }), '/run/minc1-abcdef');
    expect(steps.map((s) => s.argv[0])).toEqual(['cg_make', 'put', 'cg_join']);
    expect(oomEvents(cfg(v1, { pidMax: 5 }), '/run/minc1-abcdef')).toBeUndefined();
  });
});
