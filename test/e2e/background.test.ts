/**
 * -B/--background and --stop (issue 4), and SIGKILL of minc followed by
 * minc --gc for the network and cgroup setup: nothing is left behind.  Runs
 * use a private temp-dir base ($XDG_RUNTIME_DIR), so --gc sees only ours.
 */
import { execa } from 'execa';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findHierarchies } from '../../src/cgroup/config.js';
import { expectNothingLeft, privateBase, track, waitFor } from '../helpers/e2e.js';
import { MINC, ROOT, mincMounts } from '../helpers/minc.js';
import { makeBusyboxRootfs } from '../helpers/rootfs.js';
import { TestNetns, mincNetns } from '../helpers/netns.js';

let rootfs: { dir: string; remove: () => void };
let base: ReturnType<typeof privateBase>;
let ns: TestNetns;
const hier = findHierarchies(readFileSync('/proc/self/mountinfo', 'utf8'), (m) => {
  try {
    return readFileSync(`${m}/cgroup.controllers`, 'utf8');
  } catch {
    return null;
  }
});

beforeAll(() => {
  rootfs = makeBusyboxRootfs();
  base = privateBase();
  ns = TestNetns.create();
});

afterAll(() => {
  try {
    ns.remove();
    expect(base.entries()).toEqual([]);
    base.remove();
  } finally {
    rootfs.remove();
  }
  expectNothingLeft();
});

const minc = (args: string[]) => execa(MINC, args, { reject: false, stdin: 'ignore', env: base.env, timeout: 60_000 });

/** Fields of /proc/PID/stat after the command name: [state, ppid, pgrp, session, tty_nr, ...]. */
function stat(pid: number): string[] | null {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return s.slice(s.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}
const alive = (pid: number): boolean => {
  const s = stat(pid);
  return s !== null && s[0] !== 'Z';
};

function settings(dir: string): { mincPid: number } {
  return JSON.parse(readFileSync(join(dir, 'settings'), 'utf8')) as { mincPid: number };
}

describe('-B/--background', () => {
  it('returns at once printing the temp dir; the container runs on in its own session; --stop cleans up', async () => {
    const t0 = Date.now();
    const launcher = minc(['-B', '-r', rootfs.dir, 'sh', '-c', 'echo started; echo oops >&2; exec sleep 60']);
    const r = await launcher;
    expect(r.exitCode, r.stderr).toBe(0);
    expect(Date.now() - t0).toBeLessThan(10_000);
    const dir = r.stdout.trim();
    expect(dir.startsWith(`${base.dir}/minc`)).toBe(true);
    expect(r.stderr).toMatch(new RegExp(`running in the background as pid \\d+: .*minc --stop ${dir}`));
    const { mincPid } = settings(dir);
    track(mincPid);
    // its own session (setsid), no controlling terminal, and it outlives the launcher
    expect(launcher.pid).not.toBe(mincPid);
    expect(alive(launcher.pid!)).toBe(false);
    const st = stat(mincPid)!;
    expect(Number(st[3])).toBe(mincPid);
    expect(st[4]).toBe('0');
    const init = Number(readFileSync(join(dir, 'pid'), 'utf8'));
    expect(alive(init)).toBe(true);
    await waitFor(() => readFileSync(join(dir, 'log'), 'utf8') === 'started\n', 'the output in TEMPDIR/log');
    await waitFor(() => readFileSync(join(dir, 'debug'), 'utf8').includes('oops'), 'the errors in TEMPDIR/debug');
    const stop = await minc(['--stop', dir]);
    expect(stop.exitCode, stop.stderr).toBe(0);
    expect(existsSync(dir)).toBe(false);
    expect(alive(mincPid)).toBe(false);
    expect(alive(init)).toBe(false);
  });

  it('kill of the pid it names stops it and cleans up as a foreground run', async () => {
    const r = await minc(['-B', '-r', rootfs.dir, 'sleep', '60']);
    expect(r.exitCode, r.stderr).toBe(0);
    const dir = r.stdout.trim();
    const pid = Number(/as pid (\d+)/.exec(r.stderr)?.[1]);
    track(pid);
    expect(settings(dir).mincPid).toBe(pid);
    process.kill(pid, 'SIGTERM');
    await waitFor(() => !existsSync(dir) && !alive(pid), 'the run to end and its dir to go');
    expect(mincMounts()).toEqual([]);
  });

  it('marten lc shows a background run with its pid while it lasts', async () => {
    const store = mkdtempSync('/tmp/minc-e2e-lc-store-');
    const lc = async (): Promise<string> => {
      const l = await execa(`${ROOT}bin/marten`, ['lc'], { reject: false, stdin: 'ignore', env: { ...base.env, MINCS_DIR: store } });
      expect(l.exitCode, l.stderr).toBe(0);
      return l.stdout;
    };
    try {
      const r = await minc(['-B', '--name', 'lc-run', '-r', rootfs.dir, 'sleep', '60']);
      expect(r.exitCode, r.stderr).toBe(0);
      const dir = r.stdout.trim();
      track(settings(dir).mincPid);
      const init = readFileSync(join(dir, 'pid'), 'utf8').trim();
      const row = (await lc()).split('\n').find((l) => l.startsWith(basename(dir)));
      expect(row?.split(/\s+/)).toEqual([basename(dir), init, 'running', rootfs.dir, 'lc-run']);
      const stop = await minc(['--stop', dir]);
      expect(stop.exitCode, stop.stderr).toBe(0);
      expect(await lc()).not.toContain(basename(dir));
    } finally {
      rmSync(store, { recursive: true, force: true });
    }
  });

  it('a run that fails to start says so from the launcher, with its status', async () => {
    const r = await minc(['-B', '-r', rootfs.dir, '--user', '4242', '--nocaps', 'cap_bogus', 'true']);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/^minc: --nocaps: unknown capability/);
    expect(base.entries()).toEqual([]);
  });

  it('with --net dens and limits: --stop removes the veth, netns, lease, rules and cgroups', async () => {
    const launcher = execa('nsenter', [`--net=/run/netns/${ns.name}`, '--', MINC, '-B', '-r', rootfs.dir, '-p', '8080:80', '--pid-max', '50', '--mem-limit', '64M', 'httpd', '-f', '-p', '80'],
      { reject: false, stdin: 'ignore', env: base.env, timeout: 60_000 });
    const r = await launcher;
    expect(r.exitCode, r.stderr).toBe(0);
    const dir = r.stdout.trim();
    const pid = settings(dir).mincPid;
    track(pid);
    expect(ns.leases()).toHaveLength(1);
    expect(ns.mincRules().length).toBeGreaterThan(0);
    const name = dir.split('/').pop()!;
    expect(existsSync(`${hier.pids!.mount}/mincs/${name}`)).toBe(true);
    const stop = await execa('nsenter', [`--net=/run/netns/${ns.name}`, '--', MINC, '--stop', dir], { reject: false, stdin: 'ignore', env: base.env });
    expect(stop.exitCode, stop.stderr).toBe(0);
    expect(existsSync(dir)).toBe(false);
    await waitFor(() => ns.links().every((l) => l === 'lo'), 'the veth and bridge to go', 5000);
    expect(ns.leases()).toEqual([]);
    expect(ns.mincRules()).toEqual([]);
    expect(mincNetns([pid])).toEqual([]);
    expect(existsSync(`${hier.pids!.mount}/mincs/${name}`)).toBe(false);
    expect(existsSync(`${hier.memory!.mount}/mincs/${name}`)).toBe(false);
  });
});

describe('SIGKILL of minc, then minc --gc', () => {
  it('removes the network and cgroup leftovers of the dead run', async () => {
    const p = ns.mincNsenter(['-r', rootfs.dir, '-p', '8080:80', '--pid-max', '50', '--mem-limit', '64M', 'sleep', '60'], { env: base.env });
    let dir = '';
    await waitFor(() => {
      const d = base.entries().find((n) => n.startsWith(`minc${p.pid}-`));
      if (d && existsSync(join(base.dir, d, 'pid'))) dir = join(base.dir, d);
      return dir !== '';
    }, 'the container to start');
    const name = dir.split('/').pop()!;
    expect(ns.leases()).toHaveLength(1);
    expect(mincNetns([p.pid])).toHaveLength(1);
    p.kill('SIGKILL');
    await p;
    // all of it is still there: minc had no chance to clean up
    expect(existsSync(dir)).toBe(true);
    expect(ns.leases()).toHaveLength(1);
    expect(ns.mincRules().length).toBeGreaterThan(0);
    const gc = await execa('nsenter', [`--net=/run/netns/${ns.name}`, '--', MINC, '--gc'], { reject: false, stdin: 'ignore', env: base.env });
    expect(gc.exitCode, gc.stderr).toBe(0);
    expect(gc.stderr).toContain(`undid the network and cgroup setup of ${dir}`);
    expect(gc.stderr).toContain(`removed ${dir}`);
    expect(existsSync(dir)).toBe(false);
    await waitFor(() => ns.links().every((l) => l === 'lo'), 'the veth and bridge to go', 5000);
    expect(ns.leases()).toEqual([]);
    expect(ns.mincRules()).toEqual([]);
    expect(mincNetns([p.pid])).toEqual([]);
    for (const c of ['pids', 'memory'] as const) {
      const m = `${hier[c]!.mount}/mincs`;
      expect(existsSync(m) ? readdirSync(m).filter((n) => n === name) : []).toEqual([]);
    }
  });
});
