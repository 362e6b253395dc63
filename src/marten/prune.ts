/**
 * marten prune: staging dirs of runs that died, overlay work dirs of stopped
 * containers, and blobs no image refers to.
 */
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { processStart } from '../run/settings.js';
import { mountsBelow } from '../run/tempdir.js';
import { layerInfo, listContainers, listImages } from './model.js';
import type { Store } from './store.js';
import { withLock } from './txn.js';

const entries = (dir: string): string[] => {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
};

export function prune(store: Store): Promise<string[]> {
  return withLock(store, () => {
    const removed: string[] = [];
    for (const n of entries(store.tmp)) {
      const pid = Number(/^(?:rmi-)?(\d+)-/.exec(n)?.[1]);
      if (pid && pid !== process.pid && processStart(pid) !== null) continue;
      if (pid === process.pid) continue;
      rmSync(join(store.tmp, n), { recursive: true, force: true });
      removed.push(`tmp/${n}`);
    }
    for (const c of listContainers(store)) {
      if (c.running || mountsBelow(c.dir).length > 0) continue;
      for (const d of entries(join(c.dir, 'work'))) {
        rmSync(join(c.dir, 'work', d), { recursive: true, force: true });
        removed.push(`containers/${c.id.slice(0, 12)}/work/${d}`);
      }
    }
    const used = new Set<string>();
    for (const i of listImages(store)) {
      const d = layerInfo(store, i.id).digest;
      if (d) used.add(d.slice('sha256:'.length));
    }
    for (const n of entries(store.blobs)) {
      if (used.has(n)) continue;
      rmSync(join(store.blobs, n), { force: true });
      removed.push(`blobs/sha256/${n}`);
    }
    return removed;
  });
}
