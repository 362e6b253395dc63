/**
 * minc as an ordinary user (issue 11), end to end, continued: cgroup limits
 * in a group delegated to the user (and the clear error without one),
 * --doctor, --apply of what the user may write, and that a user's -B,
 * --stop and --gc see only the user's own runs.  A real user made by
 * useradd; commands run as it through setpriv.
 */
import { execa } from 'execa';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, rmdirSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findHierarchies, type Controller, type Hierarchy } from '../../src/cgroup/config.js';
import { asUser, asUserArgv, makeUser, mincAsUser, removeUser, type TestUser } from '../helpers/rootless.js';
import { sleep, waitFor } from '../helpers/e2e.js';

let user: TestUser;
let work: string;

const hier = findHierarchies(readFileSync('/proc/self/mountinfo', 'utf8'), (m) => {
  try {
    return readFileSync(`${m}/cgroup.controllers`, 'utf8');
  } catch {
    return null;
  }
});

/** The user's temp dirs of minc runs, now. */
const runDirs = (): string[] => readdirSync(user.runtime).filter((n) => /^minc\d+-/.test(n));

/** What is left of the user's runs: temp dirs, processes of minc or fuse-overlayfs, mounts under its dirs. */
async function leftovers(): Promise<string[]> {
  const ps = await execa('ps', ['-u', String(user.uid), '-o', 'pid=,stat=,args='], { reject: false });
  const procs = ps.stdout.split('\n').filter((l) => /fuse-overlayfs|bin\/minc/.test(l) && !/^\s*\d+\s+Z/.test(l));
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(`${user.runtime}/`));
  return [...runDirs(), ...procs, ...mounts];
}

beforeAll(async () => {
  user = await makeUser();
  work = mkdtempSync('/var/tmp/mincs-rootless-more-');
  chmodSync(work, 0o755);
});

afterAll(async () => {
  if (user) await removeUser(user);
  if (work) rmSync(work, { recursive: true, force: true });
});

/**
 * A group delegated to the user in the hierarchy of each controller, as an
 * admin makes one: the dir and its files chowned to the user.  cgroup v2
 * also gets the controllers handed down to it, and a leaf below it for
 * minc to start in (no process may sit in a group that hands controllers on).
 */
interface Delegated {
  /** the delegated group of each controller */
  readonly dirs: Partial<Record<Controller, string>>;
  /** where minc is started: the groups to join */
  readonly joins: string[];
  remove(): void;
}

function delegate(controllers: readonly Controller[]): Delegated {
  const name = `mincs-deleg-${randomBytes(3).toString('hex')}`;
  const dirs: Partial<Record<Controller, string>> = {};
  const joins = new Set<string>();
  const made: string[] = [];
  for (const c of controllers) {
    const h: Hierarchy = hier[c]!;
    const dir = `${h.mount}/${name}`;
    dirs[c] = dir;
    if (made.includes(dir)) continue;
    mkdirSync(dir);
    made.push(dir);
    if (h.version === 2) writeFileSync(`${h.mount}/cgroup.subtree_control`, controllers.filter((x) => hier[x]!.version === 2).map((x) => `+${x}`).join(' '));
    for (const f of readdirSync(dir)) chownSync(`${dir}/${f}`, user.uid, user.gid);
    chownSync(dir, user.uid, user.gid);
    if (h.version === 2) {
      mkdirSync(`${dir}/leaf`);
      made.push(`${dir}/leaf`);
      joins.add(`${dir}/leaf`);
    } else joins.add(dir);
  }
  return {
    dirs, joins: [...joins],
    remove: () => {
      for (const d of made.reverse()) {
        rmdirQuiet(d);
      }
    },
  };
}

/** rmdir, for a cgroup (its files go with it); one not empty stays, and the test's checks say so. */
function rmdirQuiet(d: string): void {
  try {
    rmdirSync(d);
  } catch {
    /* gone, or not empty */
  }
}

/** Start minc as the user inside the delegated groups (root moves the shell in, then it becomes the user's minc). */
function mincInGroups(d: Delegated, args: readonly string[]) {
  const join = d.joins.map((g) => `echo $$ > ${g}/cgroup.procs`).join('; ');
  return execa('sh', ['-c', `${join}; exec setpriv "$@"`, 'sh', ...asUserArgv(user, `${process.cwd()}/bin/minc`, args)], { reject: false, stdin: 'ignore', timeout: 60_000 });
}

/** The run groups (mincs/NAME) left below a delegated group. */
const runGroups = (dir: string): string[] =>
  existsSync(`${dir}/mincs`) ? readdirSync(`${dir}/mincs`, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => `${dir}/mincs/${e.name}`) : [];

/** After a test: nothing of the user's may hold the delegated groups (a failed test's run), then they go. */
async function undelegate(d: Delegated): Promise<void> {
  await execa('pkill', ['-KILL', '-u', String(user.uid)], { reject: false });
  await sleep(100);
  await mincAsUser(user, ['--gc']);
  for (const dir of Object.values(d.dirs)) for (const g of runGroups(dir!)) rmdirQuiet(g);
  for (const dir of Object.values(d.dirs)) rmdirQuiet(`${dir}/mincs`);
  d.remove();
}

describe('cgroup limits without root', () => {
  it('in a group delegated to the user: the run\'s group is made below it with the limits, and removed after', async () => {
    const d = delegate(['memory', 'pids']);
    try {
      const p = mincInGroups(d, ['--mem-limit', '48M', '--pid-max', '20', 'sleep', '30']);
      await waitFor(() => runDirs().some((n) => existsSync(`${user.runtime}/${n}/pid`)), 'the command to start');
      const [mem] = runGroups(d.dirs.memory!);
      const [pids] = runGroups(d.dirs.pids!);
      expect(mem).toMatch(/\/mincs\/minc\d+-\w+$/);
      const v2 = hier.memory!.version === 2;
      expect(readFileSync(`${mem}/${v2 ? 'memory.max' : 'memory.limit_in_bytes'}`, 'utf8').trim()).toBe(String(48 * 2 ** 20));
      // --pid-max and minc's unshare and init, once the command is about to start (room for minc's set-up before)
      await waitFor(() => readFileSync(`${pids}/pids.max`, 'utf8').trim() === '22', 'pids.max to be 22', 5000);
      expect(readFileSync(`${pids}/cgroup.procs`, 'utf8').trim().split('\n').length).toBeGreaterThanOrEqual(3);
      await execa('pkill', ['-TERM', '-u', String(user.uid), '-f', 'bin/minc --mem-limit'], { reject: false });
      const r = await p;
      expect(r.exitCode, r.stderr).toBe(143);
      expect(runGroups(d.dirs.memory!)).toEqual([]);
      expect(runGroups(d.dirs.pids!)).toEqual([]);
      expect(existsSync(`${d.dirs.memory}/mincs`)).toBe(false);
      expect(await leftovers()).toEqual([]);
    } finally {
      await undelegate(d);
    }
  });

  it('the memory limit OOM-kills a hog (137, and minc says so); --pid-max stops a fork bomb', async () => {
    const d = delegate(['memory', 'pids']);
    try {
      const oom = await mincInGroups(d, ['--mem-limit', '32M', 'dd', 'if=/dev/zero', 'of=/dev/null', 'bs=64M', 'count=1']);
      expect(oom.exitCode, oom.stderr).toBe(137);
      expect(oom.stderr).toMatch(/^minc: the memory limit \(--mem-limit 32M\) was hit: the kernel's OOM killer killed 1 process of the container$/m);
      const bomb = 'i=0; while [ $i -lt 60 ]; do sleep 30 & i=$((i+1)); done; echo all started; kill $(jobs -p) 2>/dev/null; true';
      const stopped = await mincInGroups(d, ['--pid-max', '20', 'sh', '-c', bomb]);
      expect(stopped.exitCode).not.toBe(0);
      expect(stopped.stdout).not.toMatch(/all started/);
      expect(stopped.stderr).toMatch(/can't fork|Resource temporarily unavailable|Cannot fork/i);
      const room = await mincInGroups(d, ['--pid-max', '100', 'sh', '-c', bomb]);
      expect(room.exitCode, room.stderr).toBe(0);
      expect(room.stdout).toMatch(/all started/);
      expect(runGroups(d.dirs.memory!)).toEqual([]);
      expect(runGroups(d.dirs.pids!)).toEqual([]);
      expect(await leftovers()).toEqual([]);
    } finally {
      await undelegate(d);
    }
  });

  it('without a delegated group, each limit option is one clear line saying what to do, and nothing is left', async () => {
    for (const opt of [['--mem-limit', '64M'], ['--pid-max', '10'], ['--cpu-quota', '50000'], ['--cpu-shares', '512']]) {
      const r = await mincAsUser(user, [...opt, 'true']);
      expect(r.exitCode).toBe(2);
      const lines = String(r.stderr).trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(new RegExp(`^minc: ${opt[0]} without root needs a cgroup delegated to you: .*(Delegate=yes|chowns it)`));
    }
    expect(await leftovers()).toEqual([]);
    // a group of root's, not the user's, is no delegation either
    const name = `${hier.pids!.mount}/mincs-notdeleg-${randomBytes(3).toString('hex')}`;
    mkdirSync(name);
    try {
      const r = await execa('sh', ['-c', `echo $$ > ${name}/cgroup.procs; exec setpriv "$@"`, 'sh', ...asUserArgv(user, `${process.cwd()}/bin/minc`, ['--pid-max', '10', 'true'])], { reject: false, stdin: 'ignore' });
      expect(r.exitCode).toBe(2);
      expect(r.stderr).toContain(`minc runs in ${name} (cgroup v${hier.pids!.version}, ${hier.pids!.mount}), which is not yours`);
      expect(readdirSync(name).filter((n) => !n.includes('.') && n !== 'tasks' && n !== 'notify_on_release')).toEqual([]);
    } finally {
      await sleep(50);
      rmdirQuiet(name);
    }
  });
});

describe('minc --doctor as a user', () => {
  it('checks user namespaces, id ranges, fuse-overlayfs and /dev/fuse, and cgroup delegation; root\'s line is not there', async () => {
    const r = await mincAsUser(user, ['--doctor']);
    const out = String(r.stdout);
    expect(out).toMatch(new RegExp(`^ok   user: ${user.name} \\(uid ${user.uid}\\), not root: minc runs rootless`, 'm'));
    expect(out).not.toMatch(/^\S+ +root:/m);
    expect(out).toMatch(/^ok   user.max_user_namespaces: \d+$/m);
    expect(out).toMatch(/^ok   user namespace: unshare --user --map-root-user works$/m);
    expect(out).toMatch(new RegExp(`^ok   subuid/subgid ranges: uids ${user.subuid}-`, 'm'));
    expect(out).toMatch(/^ok   newuidmap: .*setuid root$/m);
    expect(out).toMatch(/^ok   fuse-overlayfs: /m);
    // (this host's /dev/fuse: the test setup made it 0666 as udev would, or the line names its mode as the cause)
    expect(out).toMatch(/^(ok   \/dev\/fuse: mode 0666|FAIL \/dev\/fuse: mode 0\d{3}: this user may not open it)/m);
    expect(out).toMatch(/^warn cgroup delegation: .*which is not yours.* -> /m);
    expect(r.exitCode).toBe(out.includes('\nFAIL ') ? 1 : 0);
  });

  it('in a delegated group, the cgroup line is ok; a user without subordinate ids is warned with the usermod line', async () => {
    const d = delegate(['memory', 'cpu', 'pids']);
    try {
      const r = await mincInGroups(d, ['--doctor']);
      expect(r.stdout).toMatch(/^ok   cgroup delegation: delegated: memory, cpu, pids$/m);
    } finally {
      await undelegate(d);
    }
    const lone = await makeUser({ subids: false });
    try {
      const r = await mincAsUser(lone, ['--doctor']);
      expect(r.stdout).toMatch(new RegExp(`^warn subuid/subgid ranges: uids none, gids none .* -> usermod --add-subuids 100000-165535 --add-subgids 100000-165535 ${lone.name} \\(as root\\)$`, 'm'));
    } finally {
      await removeUser(lone);
    }
  });
});

describe('--apply as a user', () => {
  it('applies what the user may write, names each path it may not (status 1), leaves the host\'s root-owned dir untouched; --undo puts back what was applied', async () => {
    const base = mkdtempSync(`${work}/apply-`);
    chmodSync(base, 0o755);
    const mine = `${base}/mine`;
    const roots = `${base}/roots`;
    mkdirSync(`${mine}/opq`, { recursive: true });
    writeFileSync(`${mine}/opq/x`, 'x\n');
    writeFileSync(`${mine}/rootsfile`, 'root\'s, in the user\'s dir\n', { mode: 0o666 });
    for (const p of [mine, `${mine}/opq`, `${mine}/opq/x`]) chownSync(p, user.uid, user.gid);
    mkdirSync(roots, { mode: 0o755 });
    writeFileSync(`${roots}/old`, 'old\n', { mode: 0o644 });
    const kept = await mincAsUser(user, ['-k', 'sh', '-c',
      `echo a > ${mine}/f; echo b > ${roots}/g; rm ${roots}/old; rm -rf ${mine}/opq; mkdir ${mine}/opq; echo y > ${mine}/opq/y; echo more >> ${mine}/rootsfile`]);
    expect(kept.exitCode, String(kept.stderr)).toBe(0);
    const dir = /minc -t (\S+)$/m.exec(String(kept.stderr))![1]!;
    try {
      // fuse-overlayfs's marks in the upper (the host view of a rootless run): whiteouts are 0/0 char devices, an opaque dir has user.fuseoverlayfs.opaque
      const attrs = await execa('getfattr', ['-d', '-m-', `${dir}/storage${mine}/opq`], { reject: false });
      expect(attrs.stdout).toMatch(/user\.fuseoverlayfs\.opaque="y"/);
      const summary = await mincAsUser(user, ['--summary', dir]);
      expect(String(summary.stdout).split('\n')).toEqual([
        `C ${mine}/opq`, `D ${mine}/opq/x`, `A ${mine}/opq/y`, `A ${mine}/f`, `C ${mine}/rootsfile`, `A ${roots}/g`, `D ${roots}/old`,
      ].sort((a, b) => Buffer.compare(Buffer.from(a.slice(2)), Buffer.from(b.slice(2)))));
      const r = await mincAsUser(user, ['--apply', dir]);
      expect(r.exitCode).toBe(1);
      const lines = String(r.stderr).split('\n');
      expect(lines.filter((l) => l.startsWith('minc: not applied: '))).toEqual([
        `minc: not applied: ${mine}/rootsfile: it is not yours (--undo could not give it back to its owner)`,
        `minc: not applied: ${roots}/g: you may not write ${roots}`,
        `minc: not applied: ${roots}/old: you may not write ${roots}`,
      ]);
      expect(lines).toContain(`minc: applied 4 changes onto / (minc --undo ${dir} puts them back)`);
      expect(readFileSync(`${mine}/f`, 'utf8')).toBe('a\n');
      expect(readdirSync(`${mine}/opq`)).toEqual(['y']);
      expect(readdirSync(roots)).toEqual(['old']);
      expect(readFileSync(`${roots}/old`, 'utf8')).toBe('old\n');
      expect(readFileSync(`${mine}/rootsfile`, 'utf8')).toBe('root\'s, in the user\'s dir\n');
      const u = await mincAsUser(user, ['--undo', dir]);
      expect(u.exitCode, String(u.stderr)).toBe(0);
      expect(existsSync(`${mine}/f`)).toBe(false);
      expect(readdirSync(`${mine}/opq`)).toEqual(['x']);
      expect(readdirSync(roots)).toEqual(['old']);
    } finally {
      await execa('rm', ['-rf', dir]);
    }
  });
  it('--review on a terminal, answered y: the same partial apply, and status 1', async () => {
    const base = mkdtempSync(`${work}/review-`);
    chmodSync(base, 0o755);
    mkdirSync(`${base}/mine`);
    chownSync(`${base}/mine`, user.uid, user.gid);
    mkdirSync(`${base}/roots`, { mode: 0o755 });
    const cmd = `${process.cwd()}/bin/minc --review sh -c 'echo a > ${base}/mine/f; echo b > ${base}/roots/g'`;
    const r = await asUser(user, 'script', ['-qec', cmd, '/dev/null'], { input: 'y\n', stdin: undefined });
    const out = String(r.stdout);
    expect(out).toContain('Apply these changes to the host? [y/N/e]');
    expect(out).toContain(`minc: not applied: ${base}/roots/g: you may not write ${base}/roots`);
    expect(r.exitCode).toBe(1);
    expect(readFileSync(`${base}/mine/f`, 'utf8')).toBe('a\n');
    expect(readdirSync(`${base}/roots`)).toEqual([]);
    const dir = /minc --undo (\S+) puts them back/.exec(out)?.[1];
    expect(dir).toBeTruthy();
    await execa('rm', ['-rf', dir!]);
  });
});

describe('-B, --stop, --gc and marten lc as a user see only the user\'s own runs', () => {
  it('in a base dir everyone may write (a user without XDG_RUNTIME_DIR gets /tmp): the user\'s --gc, --stop and lc leave root\'s runs and another user\'s alone', async () => {
    // a sticky base open to all, as /tmp is, for root's runs and two users' (XDG_RUNTIME_DIR points every run there)
    const shared = mkdtempSync(`${work}/shared-`);
    chmodSync(shared, 0o1777);
    const other = await makeUser();
    const me = { ...user, env: { ...user.env, XDG_RUNTIME_DIR: shared } };
    const them = { ...other, env: { ...other.env, XDG_RUNTIME_DIR: shared } };
    const rootEnv = { ...process.env, XDG_RUNTIME_DIR: shared };
    const MINC = `${process.cwd()}/bin/minc`;
    const dirs = (): string[] => readdirSync(shared).filter((n) => /^minc\d+-\w{6}$/.test(n));
    /** A run started and its minc SIGKILLed once the command runs: a dead run's dir, for --gc. */
    const deadRun = async (start: () => ReturnType<typeof execa>): Promise<string> => {
      const before = new Set(dirs());
      const p = start();
      await waitFor(() => dirs().some((n) => !before.has(n) && existsSync(`${shared}/${n}/pid`)), 'the command to start');
      const dir = dirs().find((n) => !before.has(n))!;
      p.kill('SIGKILL');
      await p.catch(() => undefined);
      return dir;
    };
    let rootBg = '';
    try {
      const rootDead = await deadRun(() => execa(MINC, ['sleep', '60'], { env: rootEnv, reject: false }));
      const theirDead = await deadRun(() => execa('setpriv', asUserArgv(them, MINC, ['sleep', '60']), { reject: false }));
      const myDead = await deadRun(() => execa('setpriv', asUserArgv(me, MINC, ['sleep', '60']), { reject: false }));
      const rb = await execa(MINC, ['-B', 'sleep', '60'], { env: rootEnv, reject: false });
      expect(rb.exitCode, String(rb.stderr)).toBe(0);
      rootBg = String(rb.stdout).trim();
      const mb = await mincAsUser(me, ['-B', 'sleep', '60']);
      expect(mb.exitCode, String(mb.stderr)).toBe(0);
      const myBg = String(mb.stdout).trim();
      expect(myBg.startsWith(`${shared}/minc`)).toBe(true);

      // lc: the user's own runs only
      const lc = await asUser(me, `${process.cwd()}/bin/marten`, ['lc']);
      expect(lc.exitCode, String(lc.stderr)).toBe(0);
      expect(lc.stdout).toContain(myBg.slice(shared.length + 1));
      for (const d of [rootDead, theirDead, rootBg.slice(shared.length + 1)]) expect(lc.stdout).not.toContain(d);

      // --stop of root's run: refused, the run goes on
      const denied = await mincAsUser(me, ['--stop', rootBg]);
      expect(denied.exitCode).toBe(2);
      expect(denied.stderr).toBe(`minc: --stop '${rootBg}': not a run of yours (${rootBg} is uid 0's)`);
      expect(existsSync(`${rootBg}/pid`)).toBe(true);

      // --gc: the user's own dead run goes; root's and the other user's stay
      const gc = await mincAsUser(me, ['--gc']);
      expect(gc.exitCode, String(gc.stderr)).toBe(0);
      expect(gc.stderr).toBe(`minc: removed ${shared}/${myDead}`);
      expect(dirs().sort()).toEqual([rootDead, theirDead, rootBg.slice(shared.length + 1), myBg.slice(shared.length + 1)].sort());

      // the user's own background run stops, and nothing of it is left
      const stopped = await mincAsUser(me, ['--stop', myBg]);
      expect(stopped.exitCode, String(stopped.stderr)).toBe(0);
      expect(existsSync(myBg)).toBe(false);
      expect(await leftovers()).toEqual([]);

      // each owner's own --gc (and --stop) clears theirs
      expect((await execa(MINC, ['--stop', rootBg], { env: rootEnv, reject: false })).exitCode).toBe(0);
      rootBg = '';
      expect((await execa(MINC, ['--gc'], { env: rootEnv, reject: false })).stderr).toBe(`minc: removed ${shared}/${rootDead}`);
      expect((await mincAsUser(them, ['--gc'])).stderr).toBe(`minc: removed ${shared}/${theirDead}`);
      expect(dirs()).toEqual([]);
    } finally {
      if (rootBg) await execa(MINC, ['--stop', rootBg], { env: rootEnv, reject: false });
      await removeUser(other);
      await execa('rm', ['-rf', shared], { reject: false });
    }
  });
});
