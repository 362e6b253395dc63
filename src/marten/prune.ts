/**
 * marten prune: staging dirs of runs that died, overlay work dirs of stopped
 * containers, and blobs no image refers to.
 */
import { readdirSync } from 'node:fs';
import { removeAll } from './remove.js';
import { join } from 'node:path';
import { processStart } from '../run/settings.js';
import { mountsBelow } from '../run/tempdir.js';
import { layerInfo, listContainers, listImages } from './model.js';
import type { Store } from './store.js';
import { dropImage, unused } from './ops.js';
import { withLock } from './txn.js';

/** Entries of dir as names (latin1: one char a byte) and their paths as bytes: a name read from disk is used again as it is. */
const entries = (dir: string): { name: string; path: Buffer }[] => {
  try {
    return readdirSync(dir, { encoding: 'buffer' }).map((n) => ({ name: n.toString('latin1'), path: Buffer.concat([Buffer.from(`${dir}/`), n]) }));
  } catch {
    return [];
  }
};

export function prune(store: Store): Promise<string[]> {
  return withLock(store, () => {
    const removed: string[] = [];
    for (const { name: n, path } of entries(store.tmp)) {
      const pid = Number(/^(?:rmi-)?(\d+)-/.exec(n)?.[1]);
      if (pid && pid !== process.pid && processStart(pid) !== null) continue;
      if (pid === process.pid) continue;
      removeAll(path);
      removed.push(`tmp/${JSON.stringify(n).slice(1, -1)}`);
    }
    for (const c of listContainers(store)) {
      if (c.running || mountsBelow(c.dir).length > 0) continue;
      for (const { name: d, path } of entries(join(c.dir, 'work'))) {
        removeAll(path);
        removed.push(`containers/${c.id.slice(0, 12)}/work/${JSON.stringify(d).slice(1, -1)}`);
      }
    }
    // images with no name that nothing is based on (what rmi left, or a nameless commit), up their chains
    for (let more = true; more; ) {
      more = false;
      for (const i of listImages(store)) {
        if (!unused(store, i) || mountsBelow(i.dir).length > 0) continue;
        removed.push(`images/${dropImage(store, i).slice(0, 12)}`);
        more = true;
      }
    }
    const used = new Set<string>();
    for (const i of listImages(store)) {
      const d = layerInfo(store, i.id).digest;
      if (d) used.add(d.slice('sha256:'.length));
    }
    for (const { name: n, path } of entries(store.blobs)) {
      if (used.has(n)) continue;
      removeAll(path);
      removed.push(`blobs/sha256/${JSON.stringify(n).slice(1, -1)}`);
    }
    return removed;
  });
}
