import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { Config } from '../../../src/options/validate.js';
import {
  bindSteps, buildPlan, commandChain, devSteps, etcSteps, launchSteps, maskSteps, procSysSteps, rootSteps, type PlanInput,
} from '../../../src/plan/build.js';
import { DEVICES, DEV_LINKS, MASKED, PROC_READONLY, PUT_OLD, TOOLS, type Tool } from '../../../src/plan/paths.js';
import { STAGE_FUNCTIONS, type Arg, type Step } from '../../../src/plan/types.js';
import type { Facts } from '../../../src/run/facts.js';
import { ROOT } from '../support/child.js';

const TEMP = '/run/minc123-abcdef';
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

/** Index of the only step matching; fails if none or several match. */
function only(all: readonly Step[], what: string, pred: (st: Step) => boolean): number {
  const found = all.flatMap((st, i) => (pred(st) ? [i] : []));
  expect(found, `${what}: ${found.length} steps match`).toHaveLength(1);
  return found[0]!;
}
const mountOf = (all: readonly Step[], what: string, ...words: string[]): number =>
  only(all, what, (st) => prog(st) === toolPath('mount') && has(st, ...words));
const pivotIndex = (all: readonly Step[]): number => only(all, 'pivot_root', (st) => prog(st) === toolPath('pivot_root'));

describe('buildPlan: order', () => {
  const all = steps({ binds: [{ source: '/srv/data', target: '/data', readonly: false }] });

  it('makes the mount namespace private before it mounts anything', () => {
    const priv = mountOf(all, 'make-rprivate', '--make-rprivate', '/');
    all.forEach((st, i) => {
      if (prog(st) === toolPath('mount') && i !== priv) expect(i, text(st)).toBeGreaterThan(priv);
    });
  });

  it('mounts the overlay, then /tmp in it, makes put_old, enters the root and pivots, in that order', () => {
    const overlay = mountOf(all, 'overlay', '-t', 'overlay');
    const tmp = mountOf(all, '/tmp tmpfs', `${TEMP}/root/tmp`);
    const putOld = only(all, 'put_old', (st) => prog(st) === toolPath('mkdir') && has(st, `${TEMP}/root${PUT_OLD}`));
    const cd = only(all, 'cd', (st) => st.argv[0] === 'cd');
    const pivot = pivotIndex(all);
    expect([overlay, tmp, putOld, cd, pivot]).toEqual([...[overlay, tmp, putOld, cd, pivot]].sort((a, b) => a - b));
    expect(all[cd]!.argv).toEqual(['cd', `${TEMP}/root`]);
    expect(args(all[pivot]!)).toEqual(['.', PUT_OLD.slice(1)]);
  });

  it('pivots after every step of the root and before every step inside it', () => {
    const pivot = pivotIndex(all);
    expect(pivot).toBe(rootSteps(input()).length - 1);
    all.forEach((st, i) => {
      // before pivot_root host tools run directly; after it, only through the host's loader
      if (i < pivot) expect(st.argv[0], text(st)).not.toBe('hostrun');
      if (i > pivot && typeof st.argv[0] === 'string' && st.argv[0].startsWith('/')) throw new Error(`runs a host path after pivot_root: ${text(st)}`);
      // nothing after pivot_root names the temp dir except through the old root
      if (i > pivot) for (const a of st.argv) if (typeof a === 'string' && a.includes(TEMP)) expect(a.startsWith(`${PUT_OLD}${TEMP}`), text(st)).toBe(true);
    });
  });

  it('mounts /proc, /sys and /dev before it masks paths in them', () => {
    const proc = mountOf(all, 'procfs', '-t', 'proc');
    const sys = mountOf(all, 'sysfs', '-t', 'sysfs');
    const dev = mountOf(all, '/dev tmpfs', 'tmpfs', '/dev');
    const nullNode = only(all, 'mknod null', (st) => prog(st) === toolPath('mknod') && has(st, '/dev/null'));
    expect(proc).toBeGreaterThan(pivotIndex(all));
    for (const p of ['/proc/kcore', '/proc/acpi', '/sys/firmware', '/proc/sys']) {
      const i = mountOf(all, p, p);
      expect(i).toBeGreaterThan(proc);
      if (p.startsWith('/sys')) expect(i).toBeGreaterThan(sys);
    }
    // a file is masked with the container's own /dev/null
    expect(mountOf(all, 'mask kcore', '/proc/kcore')).toBeGreaterThan(nullNode);
    expect(nullNode).toBeGreaterThan(dev);
  });

  it('binds the user binds after /etc, and launches last', () => {
    const hosts = mountOf(all, '/etc/hosts', '/etc/hosts');
    const resolv = mountOf(all, '/etc/resolv.conf', '/etc/resolv.conf');
    const mtab = only(all, 'mtab', (st) => st.argv[0] === 'mtab_link');
    const bind = mountOf(all, 'user bind', '/data');
    expect(bind).toBeGreaterThan(Math.max(hosts, resolv, mtab));
    const launch = only(all, 'launch', (st) => st.argv[0] === 'launch');
    expect(launch).toBe(all.length - 1);
  });

  it('is the concatenation of the stage builders', () => {
    const i = input({ name: 'c1', binds: [{ source: '/srv', target: '/srv', readonly: true }] }, { tty: '/dev/pts/4' });
    expect(buildPlan(i).steps).toEqual([
      ...rootSteps(i), ...procSysSteps(i), ...devSteps(i), ...maskSteps(i), ...etcSteps(i), ...bindSteps(i), ...launchSteps(i),
    ]);
  });
});

describe('buildPlan: every step', () => {
  const variants: [string, Partial<Config>, Partial<Facts>][] = [
    ['default', {}, {}],
    ['--direct --usedev --name --user --nocaps --as-pid-1 -b', {
      direct: true, usedev: true, name: 'n', user: { uid: 1, gid: 2 }, nocaps: ['cap_net_raw'], asPid1: true,
      binds: [{ source: '/a', target: '/b', readonly: true }],
    }, { tty: '/dev/pts/0', ttyMode: true }],
    ['a kernel without the masked paths', {}, { existing: new Map() }],
  ];
  for (const [name, c, f] of variants) {
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
    expect(args(all[i]!)).toEqual(['-t', 'overlay', '-o', `lowerdir=/srv/rootfs,upperdir=${TEMP}/storage,workdir=${TEMP}/work`, 'minc-overlay', `${TEMP}/root`]);
  });

  it('--direct binds the root directory instead of an overlay', () => {
    const all = steps({ direct: true, rootdir: '/srv/rootfs' });
    expect(all.some((st) => text(st).includes('overlay'))).toBe(false);
    const i = mountOf(all, 'bind root', '--bind', '/srv/rootfs');
    expect(args(all[i]!)).toEqual(['--bind', '/srv/rootfs', `${TEMP}/root`]);
    expect(buildPlan(input({ direct: true })).vars.DIRECT).toBe('1');
    expect(buildPlan(input()).vars.DIRECT).toBe('0');
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
    expect(all.some((st) => has(st, 'devtmpfs'))).toBe(false);
    const nodes = all.filter((st) => prog(st) === toolPath('mknod')).map((st) => args(st));
    expect(nodes).toEqual(DEVICES.map(([name, major, minor]) => ['-m', '666', `/dev/${name}`, 'c', String(major), String(minor)]));
    expect(nodes.map((a) => a[2])).toEqual(expect.arrayContaining(['/dev/null', '/dev/zero', '/dev/full', '/dev/random', '/dev/urandom', '/dev/tty']));
    const pts = mountOf(all, 'devpts', '-t', 'devpts');
    expect(String(args(all[pts]!)[3])).toMatch(/(^|,)newinstance(,|$)/);
    const links = all.filter((st) => prog(st) === toolPath('ln')).map((st) => args(st));
    expect(links).toEqual(DEV_LINKS.map(([target, link]) => ['-s', target, link]));
    expect(links).toContainEqual(['-s', 'pts/ptmx', '/dev/ptmx']);
    mountOf(all, 'shm', 'shm', '/dev/shm');
    mountOf(all, 'mqueue', '-t', 'mqueue');
  });

  it('--usedev mounts devtmpfs, makes no nodes and binds ptmx of its own devpts', () => {
    const all = steps({ usedev: true });
    mountOf(all, 'devtmpfs', '-t', 'devtmpfs', '/dev');
    expect(all.some((st) => prog(st) === toolPath('mknod'))).toBe(false);
    expect(all.some((st) => has(st, 'tmpfs', '/dev'))).toBe(false);
    const pts = mountOf(all, 'devpts', '-t', 'devpts');
    expect(mountOf(all, 'ptmx', '--bind', '/dev/pts/ptmx', '/dev/ptmx')).toBeGreaterThan(pts);
  });

  it('makes the controlling tty /dev/console when there is one', () => {
    const all = steps({}, { tty: '/dev/pts/7' });
    const point = only(all, 'console point', (st) => st.argv[0] === 'ensure_file' && st.argv[1] === '/dev/console');
    const bind = mountOf(all, 'console', '--bind', '/dev/console');
    expect(args(all[bind]!)).toEqual(['--bind', `${PUT_OLD}/dev/pts/7`, '/dev/console']);
    expect(bind).toBeGreaterThan(point);
    expect(bind).toBeGreaterThan(mountOf(all, '/dev tmpfs', 'tmpfs', '/dev'));
    expect(steps().some((st) => text(st).includes('/dev/console'))).toBe(false);
  });
});

describe('buildPlan: /proc and /sys', () => {
  it('mounts a fresh procfs and a read-only sysfs', () => {
    const all = steps();
    const proc = mountOf(all, 'procfs', '-t', 'proc');
    expect(args(all[proc]!).at(-1)).toBe('/proc');
    const sys = mountOf(all, 'sysfs', '-t', 'sysfs');
    expect(String(args(all[sys]!)[3]).split(',')).toContain('ro');
  });

  it('makes the read-only paths that exist read-only, and skips the others', () => {
    const present = ['/proc/sys', '/proc/irq'];
    const all = steps({}, { existing: new Map(present.map((p) => [p, 'dir'] as [string, 'dir'])) });
    for (const p of PROC_READONLY) {
      const n = all.filter((st) => prog(st) === toolPath('mount') && has(st, '--bind', p) && args(st).at(-1) === p);
      if (present.includes(p)) {
        expect(n, p).toHaveLength(1);
        expect(args(n[0]!)).toEqual(['--bind', '-o', 'ro', p, p]);
      } else {
        expect(n, p).toHaveLength(0);
      }
    }
  });

  it('masks existing files with /dev/null and directories with a read-only tmpfs, and skips missing paths', () => {
    const existing = new Map<string, 'dir' | 'file'>([['/proc/kcore', 'file'], ['/proc/scsi', 'dir'], ['/sys/firmware', 'dir']]);
    const masks = maskSteps(input({}, { existing }));
    expect(masks.map((st) => args(st))).toEqual([
      ['--bind', '/dev/null', '/proc/kcore'],
      ['-t', 'tmpfs', '-o', 'ro,nosuid,nodev,noexec', 'tmpfs', '/proc/scsi'],
      ['-t', 'tmpfs', '-o', 'ro,nosuid,nodev,noexec', 'tmpfs', '/sys/firmware'],
    ]);
    for (const p of MASKED) if (!existing.has(p)) expect(steps({}, { existing }).some((st) => args(st).includes(p)), p).toBe(false);
    expect(maskSteps(input({}, { existing: new Map() }))).toEqual([]);
  });
});

describe('buildPlan: /etc and binds', () => {
  it("binds the temp dir's resolv.conf and hosts on the container's own files, and links mtab", () => {
    const all = steps();
    for (const f of ['resolv.conf', 'hosts']) {
      const own = only(all, `own ${f}`, (st) => st.argv[0] === 'own_file' && st.argv[1] === `/etc/${f}`);
      const bind = mountOf(all, f, `/etc/${f}`);
      expect(args(all[bind]!)).toEqual(['--bind', `${PUT_OLD}${TEMP}/${f}`, `/etc/${f}`]);
      expect(bind).toBe(own + 1);
    }
    only(all, 'mtab', (st) => st.argv[0] === 'mtab_link');
  });

  it('binds each user bind at its target, from under the old root, in order, read-only with :ro', () => {
    const binds = [
      { source: '/srv/a', target: '/a', readonly: false },
      { source: '/srv/b b', target: "/b'quote", readonly: true },
    ];
    const all = bindSteps(input({ binds }));
    expect(all.map((st) => st.argv)).toEqual([
      ['bind_point', `${PUT_OLD}/srv/a`, '/a'],
      ['hostrun', toolPath('mount'), '--bind', `${PUT_OLD}/srv/a`, '/a'],
      ['bind_point', `${PUT_OLD}/srv/b b`, "/b'quote"],
      ['hostrun', toolPath('mount'), '--bind', '-o', 'ro', `${PUT_OLD}/srv/b b`, "/b'quote"],
    ]);
    expect(all[3]!.why).toMatch(/read-only/);
    expect(all[1]!.why).not.toMatch(/read-only/);
  });
});

describe('buildPlan: the command chain', () => {
  const viaLoader = [`${PUT_OLD}${LDSO}`, '--library-path', LIBPATH.split(':').map((d) => PUT_OLD + d).join(':')];
  const words = (chain: readonly Arg[]): string[] => chain.map((a) => (typeof a === 'string' ? a : a.sh));
  const indexOfTool = (chain: readonly Arg[], t: Tool): number => chain.indexOf(`${PUT_OLD}${toolPath(t)}`);

  it("runs host tools through the host's loader from under the old root, ending in sh running $FINAL", () => {
    const chain = commandChain(input());
    expect(chain.slice(0, 4)).toEqual([...viaLoader, `${PUT_OLD}${toolPath('env')}`]);
    expect(chain[4]).toBe('--default-signal=INT,QUIT');
    expect(words(chain.slice(5))).toEqual([...viaLoader, `${PUT_OLD}${toolPath('sh')}`, '-c', '"$FINAL"', 'minc', '"$@"']);
    expect(words(chain)).not.toContain('--userspec');
    expect(indexOfTool(chain, 'capsh')).toBe(-1);
    expect(indexOfTool(chain, 'chroot')).toBe(-1);
  });

  it('--user switches user with chroot --userspec=UID:GID /', () => {
    const chain = commandChain(input({ user: { uid: 1000, gid: 50 } }));
    const c = indexOfTool(chain, 'chroot');
    expect(c).toBeGreaterThan(0);
    expect(chain.slice(c + 1, c + 3)).toEqual(['--userspec=1000:50', '/']);
    expect(chain.slice(c - 3, c)).toEqual(viaLoader);
    expect(indexOfTool(chain, 'sh')).toBeGreaterThan(c);
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
  });

  it('--user with --nocaps: dropping capabilities cannot stop the switch of user', () => {
    // chroot --userspec needs CAP_SYS_CHROOT, CAP_SETUID and CAP_SETGID: if capsh drops them
    // from the bounding set first (--nocaps sys_chroot, setuid, setgid or all), the switch
    // fails and the run ends with status 125 (seen with a real run).  The switch must not be
    // a later exec than the drop: capsh can switch itself (--gid/--uid) before it execs.
    for (const nocaps of [['cap_sys_chroot'], ['cap_setuid'], ['all']]) {
      const chain = commandChain(input({ user: { uid: 1000, gid: 50 }, nocaps }));
      const capsh = indexOfTool(chain, 'capsh');
      const chroot = indexOfTool(chain, 'chroot');
      const capshSwitches = words(chain).includes('--uid=1000') && words(chain).includes('--gid=50');
      expect(capshSwitches || (chroot >= 0 && chroot < capsh), `nocaps ${nocaps.join(',')}: ${words(chain).join(' ')}`).toBe(true);
    }
  });

  it('launch passes --as-pid-1 and the chain', () => {
    const [st] = launchSteps(input({ asPid1: true }));
    expect(st!.argv.slice(0, 2)).toEqual(['launch', '1']);
    expect(st!.argv.slice(2)).toEqual(commandChain(input({ asPid1: true })));
    expect(launchSteps(input())[0]!.argv[1]).toBe('0');
  });
});

describe('buildPlan: stage variables', () => {
  it('sets what the stage reads', () => {
    const { vars } = buildPlan({ ...input({ debug: true, preserveFds: 2 }, { ttyMode: true }), colour: { on: '<', off: '>' } });
    expect(vars).toMatchObject({
      DEBUG: '1', DBG_ON: '<', DBG_OFF: '>', ORIG: PUT_OLD, LDSO, TEMPDIR: TEMP, DIRECT: '0', TTYMODE: '1', PRESERVE_FDS: '2',
      LIBPATH: LIBPATH.split(':').map((d) => PUT_OLD + d).join(':'), MOUNT: toolPath('mount'), PIVOTROOT: toolPath('pivot_root'),
    });
    expect(buildPlan(input()).vars).toMatchObject({ DEBUG: '0', DBG_ON: '', DBG_OFF: '', TTYMODE: '0', PRESERVE_FDS: '0' });
  });

  it('defines every upper-case variable libexec/minc-stage uses and does not set itself', () => {
    const stage = readFileSync(`${ROOT}libexec/minc-stage`, 'utf8').replace(/^\s*#.*$/gm, '');
    const used = new Set([...stage.matchAll(/\$\{?([A-Z][A-Z0-9_]*)/g)].map((m) => m[1]!));
    const setByStage = new Set([...stage.matchAll(/(?:^|[\s;(])(?:read -r )?([A-Z][A-Z0-9_]*)=/gm)].map((m) => m[1]!));
    for (const m of stage.matchAll(/read -r ([A-Z][A-Z0-9_]*)/g)) setByStage.add(m[1]!);
    const environment = new Set(['PATH', 'IFS', 'HOME']);
    const { vars } = buildPlan(input());
    const missing = [...used].filter((v) => !(v in vars) && !setByStage.has(v) && !environment.has(v));
    expect(missing).toEqual([]);
    expect(used.size).toBeGreaterThan(5);
  });
});
