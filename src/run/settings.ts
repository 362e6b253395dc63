/** TEMPDIR/settings: what a run was started with, for -t reuse and --gc. */
import { readFileSync } from 'node:fs';
import { readNoFollow, writeNoFollow } from '../fs/nofollow.js';
import { join } from 'node:path';

export interface Settings {
  rootdir: string;
  direct: boolean;
  name?: string;
  keep: boolean;
  /** pid and start time (clock ticks since boot) of the minc that owns the dir */
  mincPid: number;
  mincStart: number;
  /** ms since the epoch when the sandbox was first made (kept across -t reuse): a host path changed later conflicts with an apply */
  started?: number;
  /** paths made absent with --hide: never user changes */
  hide?: string[];
  /** --cross ARCH: a reuse (-t) runs the same root under the same interpreter */
  cross?: string;
  /**
   * `minc --rm -r IMAGE`: the image's id and its store (a real path) while the
   * run lasts in a temp dir rather than in the store: marten rmi and prune
   * leave that image alone (src/marten/runs.ts)
   */
  image?: string;
  store?: string;
}

/**
 * The settings of a temp dir, or null where it has none (or they are not
 * minc's, or cannot be read).  A kept dir may have been tampered with: a symlink, a device or an
 * endless file there is an error, and so is a shape that is not settings'.
 */
export function readSettings(dir: string): Settings | null {
  try {
    return checkedSettings(dir);
  } catch {
    return null;
  }
}

/** readSettings, but a settings file that is a symlink, not a file or too large is an error that says so. */
export function checkedSettings(dir: string): Settings | null {
  const text = readNoFollow(join(dir, 'settings'), 64 << 10);
  if (text === null) return null;
  let s: unknown;
  try {
    s = JSON.parse(text.toString('utf8'));
  } catch {
    return null;
  }
  const o = s as Record<string, unknown>;
  const ok = typeof s === 'object' && s !== null && typeof o.rootdir === 'string' && o.rootdir.startsWith('/') && typeof o.direct === 'boolean'
    && typeof o.keep === 'boolean' && (o.name === undefined || typeof o.name === 'string')
    && Number.isInteger(o.mincPid) && Number.isInteger(o.mincStart)
    && (o.started === undefined || typeof o.started === 'number')
    && (o.cross === undefined || typeof o.cross === 'string')
    && (o.image === undefined || typeof o.image === 'string') && (o.store === undefined || typeof o.store === 'string')
    && (o.hide === undefined || (Array.isArray(o.hide) && o.hide.every((h) => typeof h === 'string')));
  return ok ? (s as Settings) : null;
}

export function writeSettings(dir: string, s: Settings): void {
  writeNoFollow(join(dir, 'settings'), `${JSON.stringify(s, null, 1)}\n`, 0o600);
}

/** Start time of a process (field 22 of /proc/PID/stat), or null if it is gone (or a zombie). */
export function processStart(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (fields[0] === 'Z' || fields[0] === 'X') return null;
    return Number(fields[19]);
  } catch {
    return null;
  }
}
