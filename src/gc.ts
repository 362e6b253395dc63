/**
 * minc --gc: remove the temp dirs of runs whose minc is dead (SIGKILLed, or a
 * crash).  Kept dirs (-k, -t) are left alone: they are meant to be reused.
 */
import { basename } from 'node:path';
import { info } from './run/log.js';
import { processStart, readSettings } from './run/settings.js';
import { listTempdirs, removeTempdir } from './run/tempdir.js';
import { undoLeftovers } from './host/run.js';

/** The minc that made dir is still running. */
export function ownerAlive(dir: string): boolean {
  const s = readSettings(dir);
  const pid = s?.mincPid ?? Number(/^minc(\d+)-/.exec(basename(dir))?.[1]);
  if (!pid) return false;
  const start = processStart(pid);
  if (start === null) return false;
  return s ? s.mincStart === start : true;
}

export function gc(): number {
  let status = 0;
  let removed = 0;
  for (const dir of listTempdirs()) {
    const s = readSettings(dir);
    const alive = ownerAlive(dir);
    // network and cgroup leftovers of a dead run, kept dir or not (src/host/run.ts)
    if (!alive && !undoLeftovers(dir)) {
      status = 1;
      continue;
    }
    if (s?.keep || alive) continue;
    try {
      removeTempdir(dir);
      info(`removed ${dir}`);
      removed++;
    } catch (err) {
      info(err instanceof Error ? err.message : String(err));
      status = 1;
    }
  }
  if (removed === 0 && status === 0) info('nothing to remove');
  return status;
}
