/**
 * Helpers for the end-to-end tests of issue 2: start minc and remember its
 * pid (its temp dir is named minc<pid>-XXXXXX, so leftovers of *our* runs can
 * be told from those of other runs on this machine), poll for conditions,
 * private temp-dir bases ($XDG_RUNTIME_DIR) and host process checks.
 */
import { execa, type Options } from 'execa';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { expect } from 'vitest';
import { MINC, mincMounts, tempBase, tempdirs } from './minc.js';

export interface Outcome {
  readonly exitCode?: number;
  readonly signal?: string;
  readonly stdout: string;
  readonly stderr: string;
  readonly timedOut: boolean;
}

export type Running = Promise<Outcome> & {
  readonly pid?: number;
  kill(signal?: NodeJS.Signals | number): boolean;
};

/** pids of every minc started through these helpers (a temp dir is named after its minc's pid). */
const started = new Set<number>();

/** Remember pid as one of ours (a minc started some other way, e.g. through bash -c 'exec ...'). */
export function track(pid: number | undefined): void {
  if (pid) started.add(pid);
}

/** Start `file args` (no tty; stdin ignored unless opts say otherwise), never rejecting on a failure. */
export function spawnTracked(file: string, args: readonly string[], opts: Options = {}): Running {
  const p = execa(file, args, { reject: false, stdin: 'ignore', timeout: 60_000, encoding: 'utf8', ...opts }) as unknown as Running;
  track(p.pid);
  return p;
}

/** Start bin/minc with args. */
export function startMinc(args: readonly string[], opts: Options = {}): Running {
  return spawnTracked(MINC, args, opts);
}

/** Run bin/minc with args to the end. */
export function runMinc(args: readonly string[], opts: Options = {}): Promise<Outcome> {
  return startMinc(args, opts);
}

const pidOf = (name: string): number => Number(/^minc(\d+)-/.exec(name)?.[1] ?? 0);

/** Temp dirs (names) under base made by a minc started here. */
export function ourTempdirs(base?: string): string[] {
  return tempdirs(base).filter((n) => started.has(pidOf(n)));
}

/** Temp dirs (names) under base made by the minc with this pid. */
export function tempdirsOf(pid: number | undefined, base?: string): string[] {
  return tempdirs(base).filter((n) => pidOf(n) === pid);
}

/** Nothing of our runs is left: no temp dir under /run, no host mount mentioning minc. */
export function expectNothingLeft(): void {
  expect(ourTempdirs()).toEqual([]);
  expect(mincMounts()).toEqual([]);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Poll until pred() is true; throws after timeout ms. */
export async function waitFor(pred: () => boolean, what: string, timeout = 10_000, interval = 20): Promise<void> {
  const end = Date.now() + timeout;
  for (;;) {
    if (pred()) return;
    if (Date.now() > end) throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
    await sleep(interval);
  }
}

/** Host pids of the processes whose command line contains word as one argument. */
export function processesWithArg(word: string): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const argv = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0');
      if (argv.includes(word)) out.push(Number(name));
    } catch {
      /* gone */
    }
  }
  return out;
}

/** A unique token for this test process. */
let counter = 0;
export function unique(prefix = 'k'): string {
  return `${prefix}${process.pid}x${Date.now() % 100000}x${++counter}`;
}

/**
 * A private temp-dir base: minc honours $XDG_RUNTIME_DIR, so runs started
 * with env() make their temp dirs only here (--gc then sees only ours).
 * Its own name does not look like a minc temp dir.
 */
export function privateBase(): { dir: string; env: NodeJS.ProcessEnv; entries: () => string[]; remove: () => void } {
  const dir = mkdtempSync('/run/minc-e2e-base-');
  return {
    dir,
    env: { ...process.env, XDG_RUNTIME_DIR: dir },
    entries: () => readdirSync(dir),
    remove: () => {
      expect(mincMounts().filter((m) => m.startsWith(dir))).toEqual([]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Entries of /run that are not minc temp dirs nor scratch of end-to-end tests
 * (private bases, other test files' minc-e2e-* dirs): other runs and tests may
 * come and go meanwhile.
 */
export function runEntriesButMinc(): string[] {
  return readdirSync(tempBase()).filter((n) => !/^minc\d+-\w{6}$/.test(n) && !n.startsWith('minc-e2e-')).sort();
}

/** The temp dir named by minc's "to reuse this, run: minc ... -t DIR ..." line on stderr. */
export function reuseDir(stderr: string): string {
  const m = /to reuse this.*?-t (\S+)/.exec(stderr);
  if (!m?.[1]) throw new Error(`no reuse hint in stderr: ${JSON.stringify(stderr)}`);
  return m[1];
}

/** rm -rf a temp dir we kept on purpose (refusing if anything is still mounted below it). */
export function removeKept(dir: string): void {
  expect(mincMounts().filter((m) => m.startsWith(dir))).toEqual([]);
  expect(statSync(dir).isDirectory()).toBe(true);
  rmSync(dir, { recursive: true, force: true });
  expect(existsSync(dir)).toBe(false);
}
