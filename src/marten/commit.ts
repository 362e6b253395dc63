/**
 * marten commit UUID|NAME: a container's storage (its overlay upper dir, with
 * overlayfs whiteouts for what it deleted) becomes a new image layer on top
 * of the container's image; the image keeps the base's config.  A running
 * container is frozen while its storage is read (freeze.ts), and the storage
 * is read by tar's walk, which follows no symlink (layers/copytree.ts).
 */
import { existsSync, lstatSync, mkdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MincError, withContext } from '../errors.js';
import { checkName, setImageName } from './install.js';
import { freezeContainer } from './freeze.js';
import { copyTree } from './layers/copytree.js';
import { imageConfig, readContainer, resolveContainer, shortId } from './model.js';
import type { Store } from './store.js';
import { moveIntoPlace, onInterrupt, randomId, withLock, withStaging } from './txn.js';

/** Files minc itself puts in the upper dir as mount points: not part of the image. */
function dropMincArtifacts(root: string): void {
  for (const f of ['etc/resolv.conf', 'etc/hosts']) {
    const p = join(root, f);
    try {
      const st = lstatSync(p);
      if (st.isFile() && st.size === 0) rmSync(p);
    } catch {
      /* absent */
    }
  }
  try {
    if (readlinkSync(join(root, 'etc/mtab')) === '/proc/mounts') rmSync(join(root, 'etc/mtab'));
  } catch {
    /* absent or not a link */
  }
}

export async function commitContainer(store: Store, ref: string, opts: { name?: string; pause?: boolean } = {}): Promise<string> {
  if (opts.name) checkName(opts.name);
  const c = resolveContainer(store, ref);
  if (!c.baseid) throw new MincError(`container ${shortId(c.id)} has no image (baseid)`);
  const storage = join(c.dir, 'storage');
  if (!existsSync(storage)) throw new MincError(`container ${shortId(c.id)} has no storage yet (it never ran)`);
  try {
    return await withStaging(store, async (staging) => {
      const id = randomId();
      const img = join(staging, id);
      mkdirSync(img);
      const thaw = await freezeContainer(readContainer(store, c.id), opts.pause ?? false);
      const forget = onInterrupt(thaw);
      try {
        await copyTree(storage, join(img, 'root'));
      } finally {
        thaw();
        forget();
      }
      dropMincArtifacts(join(img, 'root'));
      const config = { ...imageConfig(store, c.baseid!), created: new Date().toISOString() };
      writeFileSync(join(img, 'baseid'), `${c.baseid}\n`);
      writeFileSync(join(img, 'layer.json'), '{}\n');
      writeFileSync(join(img, 'config.json'), JSON.stringify(config));
      const name = opts.name ?? c.name ?? undefined;
      return withLock(store, () => {
        if (!existsSync(store.image(c.baseid!))) throw new MincError(`image ${shortId(c.baseid!)} is gone`);
        moveIntoPlace(img, store.image(id));
        if (name) setImageName(store, id, name);
        return id;
      });
    });
  } catch (err) {
    throw withContext(`committing container ${shortId(c.id)}`, err);
  }
}

