/** TEMPDIR/settings: what a run was started with, for -t reuse and --gc. */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface Settings {
  rootdir: string;
  direct: boolean;
  name?: string;
  keep: boolean;
  /** pid and start time (clock ticks since boot) of the minc that owns the dir */
  mincPid: number;
  mincStart: number;
}

export function readSettings(dir: string): Settings | null {
  try {
    return JSON.parse(readFileSync(join(dir, 'settings'), 'utf8')) as Settings;
  } catch {
    return null;
  }
}

export function writeSettings(dir: string, s: Settings): void {
  writeFileSync(join(dir, 'settings'), `${JSON.stringify(s, null, 1)}\n`);
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
