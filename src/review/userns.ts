/**
 * minc --summary of a rootless run's sandbox, read as its user: a chown
 * inside gave files to the user's subordinate ids, some closed to the user (a
 * 0700 dir of uid 33), and the summary would miss what is below them.  It
 * runs again in a user namespace with the run's id map (`unshare
 * --map-root-user --map-auto`), where the user is root over those ids, as
 * marten diff does (src/marten/userns.ts).
 */
import { MincError } from '../errors.js';
import { initialUserNs } from '../marten/store.js';
import { idMap, mapOptions } from '../rootless/ids.js';

/** This minc's argv again in the user's mapped namespace: its status, or null where there is no need (root, one mapping, inside already). */
export function rerunMapped(argv: readonly string[]): number | null {
  if ((process.getuid?.() ?? 0) === 0 || !initialUserNs()) return null;
  const map = idMap();
  if (!map.mapAuto) return null; // one mapping: every file of the run is the user's own
  const script = process.argv[1];
  if (!script) return null;
  const { spawnSync } = process.getBuiltinModule('node:child_process');
  const r = spawnSync('unshare', [...mapOptions(map), '--', process.execPath, script, ...argv], { stdio: 'inherit' });
  if (r.error) throw new MincError(`unshare: ${(r.error as NodeJS.ErrnoException).code === 'ENOENT' ? 'not found (util-linux)' : r.error.message}`);
  return r.status ?? 128 + 9;
}
