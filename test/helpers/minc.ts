/** Running the real minc (bin/minc, as users do) from tests. */
import { execa, type Options, type Result } from 'execa';
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { tempBase } from '../../src/run/tempdir.js';

export { tempBase };

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const MINC = `${ROOT}bin/minc`;

/** Run minc with args; never throws on a non-zero status. */
export function minc(args: readonly string[], opts: Options = {}): Promise<Result> {
  return execa(MINC, args, { reject: false, stdin: 'ignore', timeout: 60_000, ...opts }) as Promise<Result>;
}

/** minc's temp dirs present now where minc makes them (src/run/tempdir.ts tempBase: /run or $XDG_RUNTIME_DIR, or /dev/shm where that is no tmpfs). */
export function tempdirs(base = tempBase()): string[] {
  return readdirSync(base).filter((n) => /^minc\d+-\w{6}$/.test(n));
}

/**
 * Host mount points that mention minc (there must be none after a run).
 * Network namespaces (/run/netns/*) are left to the network tests, which
 * check their own: another test file's run may hold one at the same time.
 */
export function mincMounts(): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((mp) => /minc/.test(mp) && !mp.startsWith('/run/netns/'));
}

export const isRoot = process.getuid?.() === 0;
