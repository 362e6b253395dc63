/**
 * Holding a running container still while it is committed (docker does so
 * since CVE-2018-15664): a process inside swapping a dir and a symlink to a
 * host dir must not get host files into the image.
 *   - its cgroup v2 group mincs/<name> (minc's, for a run with limits): cgroup.freeze;
 *   - else, for a run that has a cgroup (v1 limits) or with --pause, a v1 freezer group
 *     mincs/<name> made here, its processes moved in and FROZEN, moved back after;
 *   - else (--pause, no freezer): SIGSTOP of each of its processes, until none is left running.
 * A run with no cgroup at all is refused unless --pause is given.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, readlinkSync, rmdirSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { MincError } from '../errors.js';
import type { ContainerEntry } from './model.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** cgroup mount points by kind: v2, and v1 by controller. */
function cgroupMounts(): { v2?: string; v1: Map<string, string> } {
  const v1 = new Map<string, string>();
  let v2: string | undefined;
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const [pre, post] = line.split(' - ');
    if (!pre || !post) continue;
    const mp = pre.split(' ')[4]!;
    const [fstype, , opts] = post.split(' ');
    if (fstype === 'cgroup2') v2 ??= mp;
    else if (fstype === 'cgroup') for (const o of (opts ?? '').split(',')) if (!['rw', 'ro', 'relatime', 'noatime', 'nosuid', 'nodev', 'noexec'].includes(o)) v1.set(o, mp);
  }
  return { v2, v1 };
}

const nsOf = (pid: number): string | null => {
  try {
    return readlinkSync(`/proc/${pid}/ns/pid`);
  } catch {
    return null;
  }
};

/** Host pids of the container's processes: those in its init's pid namespace. */
function containerPids(initPid: number, ns: string): number[] {
  const out: number[] = [];
  for (const n of readdirSync('/proc')) {
    if (!/^\d+$/.test(n)) continue;
    if (nsOf(Number(n)) === ns) out.push(Number(n));
  }
  return out.includes(initPid) ? out : [initPid, ...out];
}

/** The state letter of a process (field 3 of /proc/PID/stat: R, S, T...), null once it is gone. */
export const processState = (pid: number): string | null => {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return s.slice(s.lastIndexOf(')') + 2, s.lastIndexOf(')') + 3);
  } catch {
    return null;
  }
};

async function waitUntil(pred: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (pred()) return;
    await sleep(10);
  }
  throw new MincError(`${what} did not happen within 5 s`);
}

type Thaw = () => void;

export async function freezeV2(dir: string): Promise<Thaw> {
  writeFileSync(`${dir}/cgroup.freeze`, '1');
  const thaw = (): void => writeFileSync(`${dir}/cgroup.freeze`, '0');
  try {
    await waitUntil(() => /^frozen 1$/m.test(readFileSync(`${dir}/cgroup.events`, 'utf8')), `freezing ${dir}`);
  } catch (err) {
    thaw();
    throw err;
  }
  return thaw;
}

async function freezeV1(mount: string, name: string, pids: () => number[]): Promise<Thaw> {
  const dir = `${mount}/mincs/${name}`;
  const made = !existsSync(dir);
  const madeParent = !existsSync(`${mount}/mincs`);
  mkdirSync(dir, { recursive: true });
  const home = new Map<number, string>();
  const procs = (): Set<number> => new Set(readFileSync(`${dir}/cgroup.procs`, 'utf8').split('\n').filter(Boolean).map(Number));
  const thaw = (): void => {
    try {
      writeFileSync(`${dir}/freezer.state`, 'THAWED');
      for (const [pid, g] of home) {
        try {
          writeFileSync(`${mount}${g === '/' ? '' : g}/cgroup.procs`, String(pid));
        } catch {
          /* gone */
        }
      }
      if (made) rmdirSync(dir);
      if (madeParent) rmdirSync(`${mount}/mincs`); // fails (and stays) while another commit uses it
    } catch {
      /* the container ended meanwhile */
    }
  };
  try {
    // a process forked meanwhile starts in its parent's group: move until none is left outside
    for (let round = 0; ; round++) {
      const inside = procs();
      const outside = pids().filter((p) => !inside.has(p));
      if (outside.length === 0) break;
      if (round > 100) throw new MincError('its processes keep forking faster than they can be frozen');
      for (const p of outside) {
        const line = /^\d+:[^:]*\bfreezer\b[^:]*:(.*)$/m.exec(readFileSync(`/proc/${p}/cgroup`, 'utf8'))?.[1];
        if (line !== undefined && !home.has(p)) home.set(p, line);
        try {
          writeFileSync(`${dir}/cgroup.procs`, String(p));
        } catch {
          /* gone */
        }
      }
    }
    writeFileSync(`${dir}/freezer.state`, 'FROZEN');
    await waitUntil(() => readFileSync(`${dir}/freezer.state`, 'utf8').trim() === 'FROZEN', `freezing ${dir}`);
    if (pids().some((p) => !procs().has(p))) throw new MincError('a process escaped the freezer');
  } catch (err) {
    thaw();
    throw err;
  }
  return thaw;
}

export async function stopAll(pids: () => number[]): Promise<Thaw> {
  const stopped: number[] = [];
  const thaw = (): void => {
    for (const p of stopped.reverse()) {
      try {
        process.kill(p, 'SIGCONT');
      } catch {
        /* gone */
      }
    }
  };
  try {
    for (let round = 0; ; round++) {
      const running = pids().filter((p) => !['T', 't', 'Z', 'X', null].includes(processState(p)));
      if (running.length === 0) break;
      if (round > 500) throw new MincError('its processes could not all be stopped');
      for (const p of running) {
        try {
          process.kill(p, 'SIGSTOP');
          if (!stopped.includes(p)) stopped.push(p);
        } catch {
          /* gone */
        }
      }
      await sleep(round < 5 ? 1 : 10);
    }
  } catch (err) {
    thaw();
    throw err;
  }
  return thaw;
}

/** Freeze the container's processes if it runs; resolves to the function that thaws them. */
export async function freezeContainer(c: ContainerEntry, pause: boolean): Promise<Thaw> {
  const none: Thaw = () => undefined;
  if (!c.running || !c.pid) return none;
  const ns = nsOf(c.pid);
  if (!ns) return none; // ended meanwhile
  const name = basename(c.dir);
  const pids = (): number[] => (nsOf(c.pid!) === ns ? containerPids(c.pid!, ns) : []);
  const { v2, v1 } = cgroupMounts();
  if (v2 && existsSync(`${v2}/mincs/${name}/cgroup.freeze`)) return freezeV2(`${v2}/mincs/${name}`);
  const hasGroup = [...v1.values()].some((m) => existsSync(`${m}/mincs/${name}`));
  if (!hasGroup && !pause) {
    throw new MincError(`container ${name.slice(0, 12)} is running and has no cgroup to freeze it in: stop it first, or commit with --pause (its processes are stopped meanwhile)`);
  }
  const freezer = v1.get('freezer');
  if (freezer) return freezeV1(freezer, name, pids);
  return stopAll(pids);
}
