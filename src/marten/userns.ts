/**
 * Reading a rootless container's upper dir as its user: a chown inside gave
 * files to the user's subordinate ids, some of them closed to the user (a
 * 0700 dir of uid 33).  marten diff and commit then run again in a user
 * namespace with the run's id map (`unshare --map-root-user --map-auto`, as
 * `podman unshare`), where the user is root over those ids and reads them
 * all; what it writes there is still the user's (hostRoot() is false there).
 */
import { spawnSync } from 'node:child_process';
import { MincError } from '../errors.js';
import { idMap, mapOptions } from '../rootless/ids.js';
import { hostRoot, initialUserNs, type Store } from './store.js';

/** Run this marten with argv in the user's mapped namespace; its exit status, or null when there is no need (root, no subordinate ids, inside already). */
export function rerunMapped(store: Store, argv: readonly string[]): number | null {
  if (hostRoot() || !initialUserNs()) return null;
  const map = idMap();
  if (!map.mapAuto) return null; // one mapping: every file of the run is the user's own
  const script = process.argv[1];
  if (!script) return null;
  const r = spawnSync('unshare', [...mapOptions(map), '--', process.execPath, script, ...argv], {
    stdio: 'inherit',
    env: { ...process.env, MINCS_DIR: store.dir },
  });
  if (r.error) throw new MincError(`unshare: ${(r.error as NodeJS.ErrnoException).code === 'ENOENT' ? 'not found (util-linux)' : r.error.message}`);
  return r.status ?? 128 + 9;
}
