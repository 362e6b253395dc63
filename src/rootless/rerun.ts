/**
 * Reading a rootless run's upper dir as its user: a chown inside gave files
 * to the user's subordinate ids, some of them closed to the user (a 0700 dir
 * of uid 33).  marten diff and commit, and minc --summary, then run again in
 * a user namespace with the run's id map (`unshare --map-root-user
 * --map-auto`, as `podman unshare`), where the user is root over those ids
 * and reads them all; what it writes there is still the user's.
 */
import { MincError } from '../errors.js';
import { idMap, initialUserNs, mapOptions } from './ids.js';

/**
 * This program (its script, argv again) in the user's mapped namespace: its
 * exit status, or null where there is no need (root of the host, a single
 * mapping, inside such a namespace already).
 */
export function rerunMapped(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): number | null {
  if ((process.geteuid?.() ?? 0) === 0 || !initialUserNs()) return null;
  const map = idMap();
  if (!map.mapAuto) return null; // one mapping: every file of the run is the user's own
  const script = process.argv[1];
  if (!script) return null;
  const { spawnSync } = process.getBuiltinModule('node:child_process');
  const r = spawnSync('unshare', [...mapOptions(map), '--', process.execPath, script, ...argv], { stdio: 'inherit', env });
  if (r.error) throw new MincError(`unshare: ${(r.error as NodeJS.ErrnoException).code === 'ENOENT' ? 'not found (util-linux)' : r.error.message}`);
  return r.status ?? 128 + 9;
}
