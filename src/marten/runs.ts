/**
 * Runs of an image outside the store: `minc --rm -r IMAGE` keeps the files of
 * the container it throws away in a temp dir on a tmpfs (src/run/tempdir.ts),
 * not under containers/; its settings name the image and the store, written
 * under the store's lock (src/marten/minc.ts holdImage).  While its minc
 * lives, such a run holds the image as a store container would.
 */
import { realpathSync } from 'node:fs';
import { ownerAlive } from '../gc.js';
import { readSettings } from '../run/settings.js';
import { listTempdirs, tempBase } from '../run/tempdir.js';
import type { Store } from './store.js';

/** Temp dirs of live runs of image id of this store (where this user's minc puts them: its own base and /run's or /dev/shm's). */
export function liveRuns(store: Store, id: string): string[] {
  let real: string;
  try {
    real = realpathSync(store.dir);
  } catch {
    return [];
  }
  const dirs = new Set([...listTempdirs(), ...listTempdirs(tempBase({}))]);
  return [...dirs].filter((d) => {
    const s = readSettings(d);
    return s?.image === id && s.store === real && ownerAlive(d);
  });
}
