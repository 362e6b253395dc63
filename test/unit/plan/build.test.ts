import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { Config } from '../../../src/options/validate.js';
import {
  bindSteps,
  hostSteps, buildPlan, commandChain, devSteps, etcSteps, launchSteps, maskSteps, pivotSteps, procSysSteps, rootSteps, tmpSteps,
  type PlanInput,
} from '../../../src/plan/build.js';
import { hideSteps, runSteps, submountSteps } from '../../../src/plan/hostview.js';
import { extraNsSteps } from '../../../src/plan/nsoptions.js';
import { fstabLine } from '../../../src/plan/table.js';
import { DEVICES, DEV_LINKS, MASKED, PROC_READONLY, PUT_OLD, TOOLS, type Tool } from '../../../src/plan/paths.js';
import { STAGE_FUNCTIONS, type Arg, type Step } from '../../../src/plan/types.js';
import type { Facts } from '../../../src/run/facts.js';
import { ROOT } from '../support/child.js';

const TEMP = '/run/minc123-abcdef';
/** The new root as the steps before pivot_root name it. */
const R = `${TEMP}/root`;
const LDSO = '/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2';
const LIBPATH = '/usr/lib/x86_64-linux-gnu:/usr/lib';
/** Tool paths that differ per tool and from any real host's, so a test sees which one a step used. */
const toolPath = (t: Tool): string => `/opt/hosttools/${t}.bin`;

function facts(over: Partial<Facts> = {}): Facts {
  const tools: Partial<Record<Tool, string>> = {};
  for (const t of TOOLS) tools[t] = toolPath(t);
  const existing = new Map<string, 'dir' | 'file'>([
    ...PROC_READONLY.map((p) => [p, p === '/proc/sysrq-trigger' ? 'file' : 'dir'] as [string, 'dir' | 'file']),
    ['/proc/acpi', 'dir'], ['/proc/kcore', 'file'], ['/proc/keys', 'file'], ['/sys/firmware', 'dir'],
  ]);
  return { tools, ldso: LDSO, libpath: LIBPATH, ttyMode: false, existing, hostname: 'thehost', ...over };
}

function config(over: Partial<Config> = {}): Config {
  return {
    command: ['true'], rootdir: '/', direct: false, keep: false, binds: [], usedev: false, asPid1: false,
    preserveFds: 0, debug: false, dryRun: false, ...over,
  };
}

const input = (c: Partial<Config> = {}, f: Partial<Facts> = {}): PlanInput => ({ config: config(c), facts: facts(f), tempdir: TEMP });
const steps = (c: Partial<Config> = {}, f: Partial<Facts> = {}): readonly Step[] => buildPlan(input(c, f)).steps;

/** The program a step runs: a host tool through hostrun counts as that tool. */
const prog = (st: Step): Arg | undefined => (st.argv[0] === 'hostrun' ? st.argv[1] : st.argv[0]);
const args = (st: Step): readonly Arg[] => st.argv.slice(st.argv[0] === 'hostrun' ? 2 : 1);
const text = (st: Step): string => st.argv.map((a) => (typeof a === 'string' ? a : a.sh)).join(' ');
const has = (st: Step, ...words: string[]): boolean => words.every((w) => args(st).includes(w));
const isFn = (st: Step, fn: string): boolean => st.argv[0] === fn;
/** Stage functions that mount something. */
const MOUNTING_FUNCTIONS = ['etc_bind', 'bind'];
const mounts = (st: Step): boolean => prog(st) === toolPath('mount') || MOUNTING_FUNCTIONS.includes(String(st.argv[0]));
const below = (path: Arg | undefined, dir: string): boolean => typeof path === 'string' && (path === dir || path.startsWith(`${dir}/`));

/** Index of the only step matching; fails if none or several match. */
function only(all: readonly Step[], what: string, pred: (st: Step) => boolean): number {
  const found = all.flatMap((st, i) => (pred(st) ? [i] : []));
  expect(found, `${what}: ${found.length} steps match`).toHaveLength(1);
  return found[0]!;
}
const mountOf = (all: readonly Step[], what: string, ...words: string[]): number =>
  only(all, what, (st) => prog(st) === toolPath('mount') && has(st, ...words));
const pivotIndex = (all: readonly Step[]): number => only(all, 'pivot_root', (st) => isFn(st, 'pivot'));
const fnIndex = (all: readonly Step[], fn: string, ...rest: string[]): number =>
  only(all, `${fn} ${rest.join(' ')}`, (st) => isFn(st, fn) && rest.every((w, i) => st.argv[i + 1] === w));
const ascending = (xs: number[]): void => expect(xs).toEqual([...xs].sort((a, b) => a - b));

/** Variants of the plan the structural tests run over. */
const VARIANTS: [string, Partial<Config>, Partial<Facts>][] = [
  ['default', {}, {}],
  ['--direct --usedev --name --user --nocaps --as-pid-1 -b, on a tty', {
    direct: true, usedev: true, name: 'n', user: { uid: 1, gid: 2, groups: [3] }, nocaps: ['cap_net_raw'], asPid1: true,
    binds: [{ source: '/a', target: '/b', readonly: true }, { source: '/c', target: '/d/e', readonly: false }],
  }, { tty: '/dev/pts/0', ttyMode: true }],
  ['--user alone, layers, a kernel without the masked paths', { user: { uid: 5, gid: 6 }, layers: ['/l/1', '/l/0'] }, { existing: new Map() }],
];

describe('buildPlan: order', () => {
  const all = steps({ binds: [{ source: '/srv/data', target: '/data', readonly: false }] }, { tty: '/dev/pts/3' });

  for (const [name, c, f] of VARIANTS) {
    it(`mounts nothing that could reach the host: no propagation step (unshare --mount makes the namespace private) (${name})`, () => {
      const v = steps(c, f);
      expect(v.some((st) => text(st).includes('--make-rprivate') || text(st).includes('--make-shared'))).toBe(false);
    });

    it(`mounts what goes below the root as one table, after its mount points are checked and before what needs it (${name})`, () => {
      const v = steps(c, f);
      const table = fnIndex(v, 'mount_table', `${TEMP}/below.fstab`);
      v.forEach((st, i) => {
        if (st.table) {
          expect(st.table).toBe('below.fstab');
          expect(prog(st), text(st)).toBe(toolPath('mount'));
          expect(i, text(st)).toBeGreaterThan(table);
        }
        if (isFn(st, 'plain_dir') && st.lane === undefined) expect(i, text(st)).toBeLessThan(table);
        if (prog(st) === toolPath('cp') || prog(st) === toolPath('mknod')) expect(i, text(st)).toBeGreaterThan(table);
      });
      const plan = buildPlan(input(c, f));
      const lines = plan.files!['below.fstab'] as string;
      expect(lines.split('\n').filter((l) => l && !l.startsWith('#'))).toHaveLength(v.filter((st) => st.table).length);
    });

    it(`sets up everything below the new root before pivot_root, with host tools run directly (${name})`, () => {
      const v = steps(c, f);
      const pivot = pivotIndex(v);
      v.forEach((st, i) => {
        if (i >= pivot) return;
        // no loader is needed before pivot_root: host tools run as they are
        expect(st.argv[0], text(st)).not.toBe('hostrun');
        // every mount lands below the new root (but the make-rprivate of the namespace itself)
        if (prog(st) === toolPath('mount') && !has(st, '--make-rprivate')) expect(below(args(st).at(-1), R), text(st)).toBe(true);
        // what a host tool makes (nodes, links, directories, fifos, files) is below the temp dir
        for (const t of ['mknod', 'ln', 'mkdir', 'touch', 'mkfifo'] as const) {
          if (prog(st) === toolPath(t)) {
            const paths = args(st).filter((a) => typeof a === 'string' && a.startsWith('/'));
            expect(paths.length, text(st)).toBeGreaterThan(0);
            if (t === 'ln') expect(below(args(st).at(-1), R), text(st)).toBe(true);
            else for (const p of paths) expect(below(p, TEMP), text(st)).toBe(true);
          }
        }
        // the stage functions that check for symlinks are handed the new root
        if (isFn(st, 'plain_dir')) expect(below(st.argv[1], R), text(st)).toBe(true);
        for (const fn of ['etc_bind', 'mtab_link']) if (isFn(st, fn)) expect(st.argv[1], text(st)).toBe(R);
        if (isFn(st, 'bind')) expect(st.argv[1], text(st)).toBe(R);
      });
    });

    it(`runs only stage functions after pivot_root, host tools through hostrun, and starts the command last (${name})`, () => {
      const v = steps(c, f);
      const pivot = pivotIndex(v);
      // a command that drops root (--user, --nocaps) is started by `launch` with the fifos, any other by `launch_direct`
      const fn = c.user || c.nocaps ? 'launch' : 'launch_direct';
      const launch = fnIndex(v, fn, c.asPid1 ? '1' : '0');
      expect(launch).toBe(v.length - 1);
      v.forEach((st, i) => {
        if (i <= pivot) return;
        expect((STAGE_FUNCTIONS as readonly string[]).includes(String(st.argv[0])), `a host path after pivot_root: ${text(st)}`).toBe(true);
        // no step after pivot_root names the temp dir other than through the old root
        for (const a of st.argv) if (typeof a === 'string' && a.includes(TEMP)) expect(a.startsWith(`${PUT_OLD}${TEMP}`), text(st)).toBe(true);
      });
      // launch comes after pivot_root, every step that acts on a path of the root before it
      v.forEach((st, i) => {
        if (isFn(st, 'launch') || isFn(st, 'launch_direct')) expect(i, text(st)).toBeGreaterThan(pivot);
        for (const fn of ['bind', 'plain_dir', 'etc_bind', 'mtab_link', 'host_pid']) if (isFn(st, fn)) expect(i, text(st)).toBeLessThan(pivot);
      });
      // exactly one hostrun umount: none in the plan (the stage's unmounter does it once, after launch)
      expect(v.some((st) => prog(st) === toolPath('umount'))).toBe(false);
    });
  }

  it('mounts the overlay, then /tmp in it, makes the fifos (only for a command that drops root), enters the root and pivots, in that order', () => {
    expect(all.some((st) => prog(st) === toolPath('mkfifo'))).toBe(false);
    const drops = steps({ user: { uid: 1000, gid: 1000 } });
    const overlay = mountOf(drops, 'overlay', '-t', 'overlay');
    const tmp = mountOf(drops, '/tmp tmpfs', `${R}/tmp`);
    const fifos = only(drops, 'fifos', (st) => prog(st) === toolPath('mkfifo'));
    const pivot = pivotIndex(drops);
    ascending([overlay, fifos, tmp, pivot]);
    expect(args(drops[fifos]!)).toEqual(['-m', '600', `${TEMP}/ready`, `${TEMP}/go`]);
    expect(drops[pivot]!.argv).toEqual(['pivot', R, PUT_OLD]);
    // the host root goes on /tmp, above the container's /tmp tmpfs; no put_old directory is made
    expect(PUT_OLD).toBe('/tmp');
    expect(all.some((st) => text(st).includes('oldroot'))).toBe(false);
  });

  it('mounts /proc, /sys and /dev before it masks paths in them, all before pivot_root', () => {
    const proc = mountOf(all, 'procfs', '-t', 'proc');
    const sys = mountOf(all, 'sysfs', '-t', 'sysfs');
    const dev = mountOf(all, '/dev tmpfs', 'tmpfs', `${R}/dev`);
    const nullNode = only(all, 'mknod null', (st) => prog(st) === toolPath('mknod') && has(st, `${R}/dev/null`));
    const pivot = pivotIndex(all);
    for (const p of ['/proc/kcore', '/proc/acpi', '/sys/firmware', '/proc/sys']) {
      const i = only(all, p, (st) => prog(st) === toolPath('mount') && args(st).at(-1) === `${R}${p}`);
      expect(i, p).toBeGreaterThan(proc);
      expect(i, p).toBeLessThan(pivot);
      if (p.startsWith('/sys')) expect(i, p).toBeGreaterThan(sys);
    }
    // a file is masked with the host's /dev/null (as runc binds the /dev/null it gives the container), so the
    // masks wait for /proc and /sys only; the nodes are made once /dev is mounted
    const kcore = only(all, 'mask kcore', (st) => prog(st) === toolPath('mount') && has(st, `${R}/proc/kcore`));
    expect(args(all[kcore]!)).toEqual(['--bind', '/dev/null', `${R}/proc/kcore`]);
    ascending([proc, sys, kcore, dev, nullNode, pivot]);
  });

  it('binds the user binds after /etc and /tmp, and launches last', () => {
    const hosts = mountOf(all, 'hosts bind', `${R}/etc/hosts`);
    const resolv = mountOf(all, 'resolv.conf bind', `${R}/etc/resolv.conf`);
    const mtab = fnIndex(all, 'mtab_link', R);
    const tmp = mountOf(all, '/tmp tmpfs', `${R}/tmp`);
    const early = fnIndex(all, 'bind', R);
    const pivot = pivotIndex(all);
    expect(early).toBeGreaterThan(Math.max(hosts, resolv, mtab, tmp));
    // and after every other mount below the root: nothing mounts over a user's bind
    all.forEach((st, i) => {
      if (i < pivot && mounts(st) && !isFn(st, 'bind')) expect(i, text(st)).toBeLessThan(early);
    });
    ascending([early, pivot]);
    // (a tty in these facts, but no ttyMode: nothing to reset, so init starts the command directly)
    expect(fnIndex(all, 'launch_direct', '0')).toBe(all.length - 1);
  });

  it('is the concatenation of the stage builders, the mounts below the root gathered into one table', () => {
    // (--debugfs: the option steps of issue 4 have a place in the order too)
    const i = input({ name: 'c1', binds: [{ source: '/srv', target: '/srv', readonly: true }], debugfs: true }, { tty: '/dev/pts/4' });
    expect(extraNsSteps(i).length).toBeGreaterThan(0);
    const below = [...procSysSteps(i), ...maskSteps(i), ...devSteps(i), ...tmpSteps(i), ...runSteps(i)];
    const table = below.filter((st) => st.table);
    expect(table.length).toBeGreaterThan(10);
    const etc = etcSteps(i);
    expect(etc.table).toHaveLength(2);
    const all = [...submountSteps(i), ...table, ...etc.table];
    expect(buildPlan(i).steps).toEqual([
      ...rootSteps(i), ...etc.before,
      ...[...hostSteps(i), ...etc.after].map((st) => ({ ...st, lane: 'etc' })),
      ...below.filter((st) => isFn(st, 'plain_dir')),
      expect.objectContaining({ argv: ['mount_table', `${TEMP}/below.fstab`] }), ...all,
      ...below.filter((st) => !isFn(st, 'plain_dir') && !st.table),
      expect.objectContaining({ argv: ['join_lane', 'etc'] }),
      ...extraNsSteps(i), ...hideSteps(i), ...bindSteps(i),
      ...pivotSteps(i), ...launchSteps(i),
    ]);
    expect(pivotSteps(i).map((st) => st.argv)).toEqual([['pivot', R, PUT_OLD]]);
    // the table holds each of them as a line of fstab(5), after its why
    const fstab = buildPlan(i).files!['below.fstab'] as string;
    expect(fstab.split('\n').filter(Boolean)).toEqual(all.flatMap((st) => [`# ${st.why}`, fstabLine(st.argv)]));
  });
});

describe('buildPlan: every step', () => {
  for (const [name, c, f] of VARIANTS) {
    it(`has a reason and a runnable argv[0] (${name})`, () => {
      const all = steps(c, f);
      expect(all.length).toBeGreaterThan(10);
      for (const st of all) {
        expect(st.why.trim(), text(st)).not.toBe('');
        expect(st.why, text(st)).not.toMatch(/\n/);
        const a0 = st.argv[0];
        expect(typeof a0, text(st)).toBe('string');
        const ok = (a0 as string).startsWith('/') || (STAGE_FUNCTIONS as readonly string[]).includes(a0 as string);
        expect(ok, `argv[0] of: ${text(st)}`).toBe(true);
        if (a0 === 'hostrun') expect(String(st.argv[1]).startsWith('/'), text(st)).toBe(true);
      }
    });
  }

  it('calls only functions libexec/minc-stage defines', () => {
    const stage = readFileSync(`${ROOT}libexec/minc-stage`, 'utf8');
    const defined = new Set([...stage.matchAll(/^([a-z_][a-z0-9_]*)\(\)\s*\{/gm)].map((m) => m[1]!));
    for (const fn of STAGE_FUNCTIONS) expect(defined.has(fn), fn).toBe(true);
  });

  it('says which tool is missing on this host', () => {
    const tools = { ...facts().tools };
    delete tools.pivot_root;
    expect(() => buildPlan({ config: config(), facts: facts({ tools }), tempdir: TEMP })).toThrow(/pivot_root not found/);
  });
});

describe('buildPlan: the root', () => {
  it('mounts an overlay of the root directory with its upper and work dirs in the temp dir', () => {
    const all = steps({ rootdir: '/srv/rootfs' });
    const i = mountOf(all, 'overlay', '-t', 'overlay');
    // (a throwaway run's overlay is volatile: no sync of an upper dir that is removed right after; a kept one's is synced)
    expect(args(all[i]!)).toEqual(['-t', 'overlay', '-o', `lowerdir=/srv/rootfs,upperdir=${TEMP}/storage,workdir=${TEMP}/work,volatile`, 'minc-overlay', R]);
    const kept = steps({ rootdir: '/srv/rootfs', keep: true });
    expect(args(kept[mountOf(kept, 'overlay', '-t', 'overlay')]!)[3]).toBe(`lowerdir=/srv/rootfs,upperdir=${TEMP}/storage,workdir=${TEMP}/work`);
  });

  it("stacks an image's layers as the lower dirs, in the order given", () => {
    const all = steps({ rootdir: '/ignored', layers: ['/img/top', '/img/base'] });
    const i = mountOf(all, 'overlay', '-t', 'overlay');
    expect(args(all[i]!)[3]).toBe(`lowerdir=/img/top:/img/base,upperdir=${TEMP}/storage,workdir=${TEMP}/work,volatile`);
  });

  it('--direct binds the root directory instead of an overlay', () => {
    const all = steps({ direct: true, rootdir: '/srv/rootfs' });
    expect(all.some((st) => text(st).includes('overlay'))).toBe(false);
    const i = mountOf(all, 'bind root', '--bind', '/srv/rootfs');
    expect(args(all[i]!)).toEqual(['--bind', '/srv/rootfs', R]);
    expect(buildPlan(input({ direct: true })).vars.MINC_DIRECT).toBe('1');
    expect(buildPlan(input()).vars.MINC_DIRECT).toBe('0');
  });

  it('--name sets the hostname inside the namespaces, before pivot_root', () => {
    const all = steps({ name: 'box' });
    const i = only(all, 'hostname', (st) => prog(st) === toolPath('hostname'));
    expect(args(all[i]!)).toEqual(['box']);
    expect(i).toBeLessThan(pivotIndex(all));
    expect(steps().some((st) => prog(st) === toolPath('hostname'))).toBe(false);
  });

  it('records the init pid first', () => {
    expect(steps()[0]!.argv).toEqual(['host_pid']);
  });
});

describe('buildPlan: /dev', () => {
  it('gives the container a tmpfs with its own nodes, devpts, links, shm and mqueue', () => {
    const all = steps();
    const dev = `${R}/dev`;
    expect(all.some((st) => has(st, 'devtmpfs'))).toBe(false);
    const point = fnIndex(all, 'plain_dir', dev);
    const tmpfs = mountOf(all, '/dev tmpfs', 'tmpfs', dev);
    const nodes = all.filter((st) => prog(st) === toolPath('mknod')).map((st) => args(st));
    expect(nodes).toEqual(DEVICES.map(([name, major, minor]) => ['-m', '666', `${dev}/${name}`, 'c', String(major), String(minor)]));
    expect(nodes.map((a) => a[2])).toEqual(['null', 'zero', 'full', 'random', 'urandom', 'tty'].map((n) => `${dev}/${n}`));
    const pts = mountOf(all, 'devpts', '-t', 'devpts');
    expect(String(args(all[pts]!)[3])).toMatch(/(^|,)newinstance(,|$)/);
    // (mount(8) makes the mount points in the new tmpfs: X-mount.mkdir)
    expect(String(args(all[pts]!)[3])).toMatch(/(^|,)X-mount\.mkdir(,|$)/);
    expect(args(all[pts]!).at(-1)).toBe(`${dev}/pts`);
    // the links are made by the runner in TEMPDIR/devlinks and copied in by one cp -a, with the nodes where it can
    expect(all.some((st) => prog(st) === toolPath('ln'))).toBe(false);
    const links = DEV_LINKS.map(([, link]) => `${TEMP}/devlinks/${link.slice(5)}`);
    expect(all.filter((st) => prog(st) === toolPath('cp')).map((st) => args(st))).toEqual([['-a', ...links, `${dev}/`]]);
    expect(buildPlan(input()).files).toMatchObject(Object.fromEntries(DEV_LINKS.map(([target, link]) => [`devlinks/${link.slice(5)}`, { symlink: target }])));
    // when the host's nodes are the right devices, one cp -a makes all six (mknod(2) each) and the links
    const copied = steps({}, { hostDevNodes: true });
    expect(copied.some((st) => prog(st) === toolPath('mknod'))).toBe(false);
    const cp = copied.filter((st) => prog(st) === toolPath('cp')).map((st) => args(st));
    expect(cp).toEqual([['-a', ...DEVICES.map(([n]) => `/dev/${n}`), ...links, `${R}/dev/`]]);
    const shm = mountOf(all, 'shm', 'shm', `${dev}/shm`);
    const mq = mountOf(all, 'mqueue', '-t', 'mqueue', `${dev}/mqueue`);
    ascending([point, tmpfs, pts, shm, mq]);
  });

  it('--usedev mounts devtmpfs, makes no nodes and binds ptmx of its own devpts', () => {
    const all = steps({ usedev: true });
    const dt = mountOf(all, 'devtmpfs', '-t', 'devtmpfs', `${R}/dev`);
    expect(all.some((st) => prog(st) === toolPath('mknod'))).toBe(false);
    expect(all.some((st) => has(st, 'tmpfs', `${R}/dev`))).toBe(false);
    const pts = mountOf(all, 'devpts', '-t', 'devpts');
    const ptmx = mountOf(all, 'ptmx', '--bind', `${R}/dev/pts/ptmx`, `${R}/dev/ptmx`);
    ascending([dt, pts, ptmx]);
  });

  it('makes the controlling tty /dev/console when there is one', () => {
    const all = steps({}, { tty: '/dev/pts/7' });
    const point = only(all, 'console point', (st) => prog(st) === toolPath('touch') && has(st, `${R}/dev/console`));
    const bind = mountOf(all, 'console', '--bind', `${R}/dev/console`);
    // before pivot_root the host's tty is named by its own path
    expect(args(all[bind]!)).toEqual(['--bind', '/dev/pts/7', `${R}/dev/console`]);
    ascending([mountOf(all, '/dev tmpfs', 'tmpfs', `${R}/dev`), point, bind, pivotIndex(all)]);
    expect(steps().some((st) => text(st).includes('/dev/console'))).toBe(false);
  });
});

describe('buildPlan: /proc and /sys', () => {
  it('mounts a fresh procfs and a read-only sysfs on plain directories of the root', () => {
    const all = steps();
    const proc = mountOf(all, 'procfs', '-t', 'proc');
    expect(args(all[proc]!).at(-1)).toBe(`${R}/proc`);
    expect(fnIndex(all, 'plain_dir', `${R}/proc`)).toBeLessThan(proc);
    const sys = mountOf(all, 'sysfs', '-t', 'sysfs');
    expect(args(all[sys]!).at(-1)).toBe(`${R}/sys`);
    expect(String(args(all[sys]!)[3]).split(',')).toContain('ro');
    expect(fnIndex(all, 'plain_dir', `${R}/sys`)).toBeLessThan(sys);
  });

  it('makes the read-only paths that exist read-only, and skips the others', () => {
    const present = ['/proc/sys', '/proc/irq'];
    const all = steps({}, { existing: new Map(present.map((p) => [p, 'dir'] as [string, 'dir'])) });
    const proc = mountOf(all, 'procfs', '-t', 'proc');
    for (const p of PROC_READONLY) {
      const n = all.flatMap((st, i) => (prog(st) === toolPath('mount') && args(st).at(-1) === `${R}${p}` ? [i] : []));
      if (present.includes(p)) {
        expect(n, p).toHaveLength(1);
        expect(args(all[n[0]!]!)).toEqual(['--bind', '-o', 'ro', `${R}${p}`, `${R}${p}`]);
        expect(n[0]!).toBeGreaterThan(proc);
      } else {
        expect(n, p).toHaveLength(0);
      }
    }
  });

  it('masks existing files with /dev/null and directories with a read-only tmpfs, and skips missing paths', () => {
    const existing = new Map<string, 'dir' | 'file'>([['/proc/kcore', 'file'], ['/proc/scsi', 'dir'], ['/sys/firmware', 'dir']]);
    const masks = maskSteps(input({}, { existing }));
    expect(masks.map((st) => st.argv)).toEqual([
      [toolPath('mount'), '--bind', '/dev/null', `${R}/proc/kcore`],
      [toolPath('mount'), '-t', 'tmpfs', '-o', 'ro,nosuid,nodev,noexec', 'tmpfs', `${R}/proc/scsi`],
      [toolPath('mount'), '-t', 'tmpfs', '-o', 'ro,nosuid,nodev,noexec', 'tmpfs', `${R}/sys/firmware`],
    ]);
    for (const p of MASKED) if (!existing.has(p)) expect(steps({}, { existing }).some((st) => args(st).includes(`${R}${p}`)), p).toBe(false);
    expect(maskSteps(input({}, { existing: new Map() }))).toEqual([]);
  });
});

describe('buildPlan: /etc, /tmp and binds', () => {
  it("binds the temp dir's resolv.conf and hosts on /etc (lines of the one table, on files etc_file made plain), links mtab, on a plain /etc", () => {
    const all = steps();
    const etc = fnIndex(all, 'plain_dir', `${R}/etc`);
    const files = ['resolv.conf', 'hosts'].map((f) => fnIndex(all, 'etc_file', R, f));
    const table = fnIndex(all, 'mount_table', `${TEMP}/below.fstab`);
    const binds = ['resolv.conf', 'hosts'].map((f) => mountOf(all, f, `${R}/etc/${f}`));
    const mtab = fnIndex(all, 'mtab_link', R);
    ascending([etc, ...files, table, ...binds, pivotIndex(all)]);
    expect(mtab).toBeLessThan(pivotIndex(all));
    for (const [k, f] of ['resolv.conf', 'hosts'].entries()) {
      expect(all[binds[k]!]!.table).toBe('below.fstab');
      expect(args(all[binds[k]!]!)).toEqual(['--bind', '--', `${TEMP}/${f}`, `${R}/etc/${f}`]);
    }
    expect(all.some((st) => isFn(st, 'etc_bind'))).toBe(false);
    // no step touches /etc below the root with a host tool directly (a symlink there could lead out of the root), but the table's binds
    expect(all.some((st) => !st.table && typeof prog(st) === 'string' && String(prog(st)).startsWith('/') && text(st).includes(`${R}/etc`))).toBe(false);
  });

  it('binds /etc/resolv.conf and /etc/hosts by etc_bind after the table where a host mount shown there would cover them, and with --direct', () => {
    const etcMount = { mounts: [{ path: '/etc', fstype: 'ext4', how: 'overlay' as const, name: 'etc' }] };
    for (const [c, f] of [[{}, etcMount], [{ direct: true }, {}]] as [Partial<Config>, Partial<Facts>][]) {
      const all = steps(c, f);
      const table = fnIndex(all, 'mount_table', `${TEMP}/below.fstab`);
      for (const file of ['resolv.conf', 'hosts']) expect(fnIndex(all, 'etc_bind', R, file)).toBeGreaterThan(table);
      expect(all.some((st) => isFn(st, 'etc_file') || (st.table && [`${R}/etc/resolv.conf`, `${R}/etc/hosts`].includes(String(st.argv.at(-1)))))).toBe(false);
      expect(fnIndex(all, 'mtab_link', R)).toBeGreaterThan(table);
    }
  });

  it('mounts a tmpfs on a plain /tmp of the root', () => {
    const all = steps();
    const point = fnIndex(all, 'plain_dir', `${R}/tmp`);
    const tmp = mountOf(all, '/tmp', `${R}/tmp`);
    expect(args(all[tmp]!)).toEqual(['-t', 'tmpfs', '-o', 'mode=1777,nosuid,nodev', 'tmpfs', `${R}/tmp`]);
    expect(point).toBeLessThan(tmp);
  });

  it('binds each user bind at its target resolved in the root (bind), in order, read-only with :ro, before pivot_root', () => {
    const binds = [
      { source: '/srv/a', target: '/a', readonly: false },
      { source: '/srv/b b', target: "/b'quote", readonly: true },
    ];
    const early = bindSteps(input({ binds }));
    expect(early.map((st) => st.argv)).toEqual([
      ['bind', R, '/srv/a', '/a'],
      ['bind', R, '/srv/b b', "/b'quote", 'ro'],
    ]);
    expect(early[1]!.why).toMatch(/read-only/);
    expect(early[0]!.why).not.toMatch(/read-only/);
    const all = steps({ binds });
    expect(all.filter((st) => isFn(st, 'bind')).map((st) => all.indexOf(st)).every((i) => i < pivotIndex(all))).toBe(true);
    expect(steps().some((st) => isFn(st, 'bind'))).toBe(false);
  });

});

describe('buildPlan: the command chain', () => {
  const viaLoader = [`${PUT_OLD}${LDSO}`, '--library-path', LIBPATH.split(':').map((d) => PUT_OLD + d).join(':')];
  const words = (chain: readonly Arg[]): string[] => chain.map((a) => (typeof a === 'string' ? a : a.sh));
  const indexOfTool = (chain: readonly Arg[], t: Tool): number => chain.indexOf(`${PUT_OLD}${toolPath(t)}`);

  it('without a drop of root no host tool stands before the command: init detaches the host root, then starts it', () => {
    for (const f of [{}, { ttyMode: true }]) {
      const [st] = launchSteps(input({}, f));
      expect(words(st!.argv)).toEqual(['launch_direct', '0', '/', '--', '"$@"']);
    }
  });

  it("dropping root: host tools through the loader reset INT/QUIT, switch, and end in sh running $MINC_FINAL (the fifo start)", () => {
    const chain = commandChain(input({ user: { uid: 1, gid: 1 } }));
    expect(chain.slice(0, 4)).toEqual([...viaLoader, `${PUT_OLD}${toolPath('env')}`]);
    expect(chain[4]).toBe('--default-signal=INT,QUIT');
    // (the working directory, / here, is entered by $MINC_FINAL once the host root is gone)
    expect(words(chain).slice(-6)).toEqual([`${PUT_OLD}${toolPath('sh')}`, '-c', '"$MINC_FINAL"', 'minc', '/', '"$@"']);
    expect(indexOfTool(chain, 'capsh')).toBe(-1);
  });

  it('--user alone switches user with chroot --userspec=UID:GID --groups=GID,SUPPLEMENTARY... /', () => {
    const chain = commandChain(input({ user: { uid: 1000, gid: 50, groups: [20, 50, 30] } }));
    const c = indexOfTool(chain, 'chroot');
    expect(c).toBeGreaterThan(0);
    // the primary group first and only once, then the supplementary groups
    expect(chain.slice(c + 1, c + 4)).toEqual(['--userspec=1000:50', '--groups=50,20,30', '/']);
    expect(chain.slice(c - 3, c)).toEqual(viaLoader);
    expect(indexOfTool(chain, 'sh')).toBeGreaterThan(c);
    expect(indexOfTool(chain, 'capsh')).toBe(-1);
  });

  it('--user without supplementary groups: --groups is the primary group alone', () => {
    for (const user of [{ uid: 7, gid: 8 }, { uid: 7, gid: 8, groups: [] }]) {
      const chain = commandChain(input({ user }));
      const c = indexOfTool(chain, 'chroot');
      expect(chain.slice(c + 1, c + 4)).toEqual(['--userspec=7:8', '--groups=8', '/']);
    }
  });

  it('--nocaps drops the capabilities with capsh --drop, whose shell is the loader', () => {
    const chain = commandChain(input({ nocaps: ['cap_net_raw', 'cap_sys_admin'] }));
    const c = indexOfTool(chain, 'capsh');
    expect(c).toBeGreaterThan(0);
    expect(chain.slice(c + 1, c + 4)).toEqual(['--drop=cap_net_raw,cap_sys_admin', `--shell=${PUT_OLD}${LDSO}`, '--']);
    // capsh runs its --shell (the loader) with what follows --: the loader's own arguments, then the tool
    expect(chain.slice(c + 4, c + 6)).toEqual(viaLoader.slice(1));
    expect(indexOfTool(chain, 'sh')).toBe(c + 6);
    expect(chain.indexOf('--default-signal=INT,QUIT')).toBeLessThan(c);
    expect(words(chain).some((w) => /^--(uid|gid|groups)=/.test(w))).toBe(false);
  });

  it('--user with --nocaps: capsh itself switches user (--gid, --groups, then --uid), no chroot', () => {
    // chroot --userspec needs CAP_SYS_CHROOT, CAP_SETUID and CAP_SETGID: if capsh dropped them from
    // the bounding set first (--nocaps sys_chroot, setuid, setgid or all), a later switch would fail.
    for (const nocaps of [['cap_sys_chroot'], ['cap_setuid'], ['all']]) {
      const chain = commandChain(input({ user: { uid: 1000, gid: 50, groups: [20] }, nocaps }));
      const w = words(chain);
      const capsh = indexOfTool(chain, 'capsh');
      expect(capsh, w.join(' ')).toBeGreaterThan(0);
      expect(indexOfTool(chain, 'chroot'), w.join(' ')).toBe(-1);
      expect(w.filter((x) => x.startsWith('--userspec'))).toEqual([]);
      const at = (p: string): number => {
        const found = w.flatMap((x, i) => (x.startsWith(p) ? [i] : []));
        expect(found, `${p} in ${w.join(' ')}`).toHaveLength(1);
        return found[0]!;
      };
      const [drop, gid, groups, uid, shell] = [at('--drop='), at('--gid='), at('--groups='), at('--uid='), at('--shell=')];
      expect(w[drop]).toBe(`--drop=${nocaps.join(',')}`);
      expect(w[gid]).toBe('--gid=50');
      expect(w[groups]).toBe('--groups=50,20');
      expect(w[uid]).toBe('--uid=1000');
      // capsh acts on its arguments in order: the groups are set while it may still, the uid last, all before the shell runs
      ascending([capsh, gid, uid, shell]);
      ascending([capsh, groups, uid]);
      expect(drop).toBeGreaterThan(capsh);
      expect(drop).toBeLessThan(shell);
      expect(indexOfTool(chain, 'sh')).toBeGreaterThan(shell);
    }
  });

  it("an image's environment and working directory: env before the command when it drops root, else launch_direct's arguments", () => {
    const image = { env: ['A=1', 'B=two words', '-bad', 'noequals'], workdir: '/app' };
    const chain = commandChain(input({ ...image, user: { uid: 1, gid: 1 } }));
    const envs = chain.flatMap((a, i) => (a === `${PUT_OLD}${toolPath('env')}` ? [i] : []));
    expect(envs).toHaveLength(1);
    const at = envs[0]!;
    expect(chain.slice(at + 1, at + 4)).toEqual(['--default-signal=INT,QUIT', 'A=1', 'B=two words']);
    // no host tool enters the working directory while the host root is there: $MINC_FINAL does, after
    expect(words(chain)).not.toContain('-C');
    expect(words(chain).slice(-3)).toEqual(['minc', '/app', '"$@"']);
    expect(words(chain)).not.toContain('-bad');
    expect(words(chain)).not.toContain('noequals');
    const [direct] = launchSteps(input(image));
    expect(words(direct!.argv)).toEqual(['launch_direct', '0', '/app', 'A=1', 'B=two words', '--', '"$@"']);
  });

  it('launch passes --as-pid-1 and the chain', () => {
    const [st] = launchSteps(input({ asPid1: true, nocaps: ['cap_net_raw'] }));
    expect(st!.argv.slice(0, 2)).toEqual(['launch', '1']);
    expect(st!.argv.slice(2)).toEqual(commandChain(input({ asPid1: true, nocaps: ['cap_net_raw'] })));
    expect(launchSteps(input({ nocaps: ['cap_net_raw'] }))[0]!.argv[1]).toBe('0');
    // nothing to load from the host: init detaches the host root and starts the command itself
    const [direct] = launchSteps(input({ asPid1: true }));
    expect(words(direct!.argv)).toEqual(['launch_direct', '1', '/', '--', '"$@"']);
  });
});

describe('buildPlan: stage variables', () => {
  const stage = readFileSync(`${ROOT}libexec/minc-stage`, 'utf8');
  /** The stage without its comments (they mention variables by name). */
  const code = stage.replace(/^\s*#.*$/gm, '');

  it('sets what the stage reads', () => {
    const { vars } = buildPlan({ ...input({ debug: true, preserveFds: 2 }, { ttyMode: true }), colour: { on: '<', off: '>' } });
    expect(vars).toMatchObject({
      MINC_DEBUG: '1', MINC_DBG_ON: '<', MINC_DBG_OFF: '>', MINC_ORIG: PUT_OLD, MINC_LDSO: LDSO, MINC_TEMPDIR: TEMP,
      MINC_DIRECT: '0', MINC_TTYMODE: '1', MINC_PRESERVE_FDS: '2',
      MINC_LIBPATH: LIBPATH.split(':').map((d) => PUT_OLD + d).join(':'), MINC_MOUNT: toolPath('mount'),
      MINC_UMOUNT: toolPath('umount'), MINC_MKDIR: toolPath('mkdir'), MINC_READLINK: toolPath('readlink'), MINC_PIVOT_ROOT: toolPath('pivot_root'), MINC_RM: toolPath('rm'), MINC_LN: toolPath('ln'),
    });
    expect(buildPlan(input()).vars).toMatchObject({ MINC_DEBUG: '0', MINC_DBG_ON: '', MINC_DBG_OFF: '', MINC_TTYMODE: '0', MINC_PRESERVE_FDS: '0' });
  });

  it('names every variable MINC_* (node strips those from the command\'s environment)', () => {
    for (const k of Object.keys(buildPlan(input()).vars)) expect(k).toMatch(/^MINC_[A-Z0-9_]+$/);
  });

  it('defines every $MINC_* variable libexec/minc-stage uses and does not set itself', () => {
    const used = new Set([...code.matchAll(/\$\{?(MINC_[A-Z0-9_]+)/g)].map((m) => m[1]!));
    const setByStage = new Set([
      ...[...code.matchAll(/(?:^|[\s;(])(MINC_[A-Z0-9_]+)=/gm)].map((m) => m[1]!),
      ...[...code.matchAll(/\bread -r (MINC_[A-Z0-9_]+)/g)].map((m) => m[1]!),
    ]);
    const { vars } = buildPlan(input());
    const missing = [...used].filter((v) => !(v in vars) && !setByStage.has(v));
    expect(missing).toEqual([]);
    // the scan does find them (it would pass vacuously on a stage it cannot read)
    expect(used.size).toBeGreaterThan(10);
    for (const v of ['MINC_ORIG', 'MINC_LDSO', 'MINC_TEMPDIR', 'MINC_MOUNT', 'MINC_UMOUNT', 'MINC_FINAL']) expect(used.has(v), v).toBe(true);
    expect(setByStage.has('MINC_FINAL')).toBe(true);
  });

  it('the stage sets no shell variable other than MINC_* and minc_* (but IFS, which it restores, and LC_ALL for one step)', () => {
    const assigned = new Set([
      ...[...code.matchAll(/(?:^|[\s;(])([A-Za-z_][A-Za-z0-9_]*)=/gm)].map((m) => m[1]!),
      ...[...code.matchAll(/\bread -r ((?:[A-Za-z_][A-Za-z0-9_]* ?)+)/g)].flatMap((m) => m[1]!.trim().split(' ')),
      ...[...code.matchAll(/\bfor ([A-Za-z_][A-Za-z0-9_]*)\b/g)].map((m) => m[1]!),
    ]);
    expect(assigned.size).toBeGreaterThan(10);
    // (LC_ALL=C only as the prefix of a step's command: the shell gives it back after the step)
    expect(code).toMatch(/\bLC_ALL=C "\$@"/);
    const others = [...assigned].filter((v) => !/^(MINC|minc)_/.test(v) && v !== 'IFS' && v !== 'LC_ALL');
    expect(others).toEqual([]);
    expect(code.match(/\bLC_ALL=/g)).toHaveLength(1);
  });
});

describe('buildPlan: a rootless --net dens run', () => {
  const usermode = { kind: 'pasta' as const, path: '/usr/bin/pasta', setpriv: '/usr/bin/setpriv' };
  const net = { mode: 'dens' as const, ports: [], tools: { ip: '/usr/bin/ip' }, usermode };
  it("tells minc its pid first, and waits for the stack just before pivot_root; a run without it does neither", () => {
    const all = steps({ rootless: { fuse: true, mapAuto: true }, net });
    expect(all[0]!.argv).toEqual(['net_ready', toolPath('mkfifo')]);
    const wait = fnIndex(all, 'net_wait');
    expect(wait).toBe(pivotIndex(all) - 1);
    const plain = steps({ rootless: { fuse: true, mapAuto: true } });
    expect(plain.some((st) => isFn(st, 'net_ready') || isFn(st, 'net_wait'))).toBe(false);
  });
});

describe('buildPlan: a rootless run over fuse-overlayfs', () => {
  it('starts the daemon, enters the container namespaces as slaves of the shared launcher namespace, then waits for the mount before any step on the root', async () => {
    const { rootlessUnshareFlags } = await import('../../../src/rootless/plan.js');
    const config = { rootless: { fuse: true, mapAuto: true } };
    const all = steps(config);
    const fuse = fnIndex(all, 'fuse_root');
    const enter = fnIndex(all, 'enter_pidns');
    const wait = fnIndex(all, 'fuse_wait');
    expect(fuse).toBeGreaterThanOrEqual(0);
    expect([enter, wait]).toEqual([fuse + 1, fuse + 2]);
    expect(all.findIndex((st) => isFn(st, 'plain_dir'))).toBeGreaterThan(wait);
    const flags = rootlessUnshareFlags(input(config).config);
    expect(flags.slice(flags.indexOf('--propagation'), flags.indexOf('--propagation') + 2)).toEqual(['--propagation', 'shared']);
    // a kernel overlay (no daemon): one unshare enters all, with unshare's private propagation
    const kernel = { rootless: { fuse: false, mapAuto: true } };
    expect(steps(kernel).some((st) => isFn(st, 'fuse_wait') || isFn(st, 'enter_pidns'))).toBe(false);
    expect(rootlessUnshareFlags(input(kernel).config)).not.toContain('--propagation');
  });
});
