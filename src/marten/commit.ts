/**
 * marten commit UUID|NAME: a container's storage (its overlay upper dir, with
 * overlayfs whiteouts for what it deleted) becomes a new image layer on top
 * of the container's image; the image keeps the base's config.  A running
 * container is frozen while its storage is read (freeze.ts), and the storage
 * is read by tar's walk, which follows no symlink (layers/copytree.ts).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, type Stats, mkdirSync, readdirSync, readlinkSync, rmSync, rmdirSync, writeFileSync } from 'node:fs';
import { readNoFollow } from '../fs/nofollow.js';
import { dirname, join } from 'node:path';
import { MincError, withContext } from '../errors.js';
import { checkName, setImageName } from './install.js';
import { freezeContainer } from './freeze.js';
import { copyTree } from './layers/copytree.js';
import { imageConfig, layerChain, ownLayerInfo, readContainer, resolveContainer, shortId } from './model.js';
import { opaqueName, ownNs } from './layers/xattrns.js';
import type { Store } from './store.js';
import { moveIntoPlace, onInterrupt, randomId, withLock, withStaging } from './txn.js';

/**
 * What minc itself made in the upper dir for its set-up (mount points,
 * /etc/resolv.conf and hosts, the /etc/mtab link): listed in the container's
 * `made` file by the stage, and left out of the image while still as minc
 * made them (an empty dir, an empty file, the link).  The fixed list serves
 * containers run before the file was kept.
 */
function dropMincArtifacts(root: string, containerDir: string, lowers: readonly string[]): void {
  let listed: string[] = [];
  try {
    listed = (readNoFollow(join(containerDir, 'made'), 1 << 20)?.toString('latin1') ?? '').split('\n').filter((l) => l.startsWith('/'));
  } catch {
    /* unreadable: the fixed list only */
  }
  const paths = [...new Set([...listed, '/etc/resolv.conf', '/etc/hosts', '/etc/mtab'])].sort((a, b) => b.length - a.length);
  const parents = new Set<string>();
  for (const p of paths) {
    const at = Buffer.from(`${root}${p}`, 'latin1');
    try {
      const st = lstatSync(at);
      if (st.isFile() && st.size === 0) rmSync(at);
      else if (st.isDirectory() && readdirSync(at).length === 0) rmdirSync(at);
      else if (st.isSymbolicLink() && readlinkSync(at).toString() === '/proc/mounts') rmSync(at);
      else continue;
      for (let d = dirname(p); d !== '/'; d = dirname(d)) parents.add(d);
    } catch {
      /* absent */
    }
  }
  // a directory overlayfs copied up only to hold them: empty now, not opaque, as in the layers below
  for (const d of [...parents].sort((a, b) => b.length - a.length)) {
    const at = Buffer.from(`${root}${d}`, 'latin1');
    try {
      const st = lstatSync(at);
      if (!st.isDirectory() || readdirSync(at).length > 0 || isOpaque(at)) continue;
      const lower = lowers.map((l) => lstatOrNull(Buffer.from(`${l}${d}`, 'latin1'))).find(Boolean);
      if (lower?.isDirectory() && lower.mode === st.mode && lower.uid === st.uid && lower.gid === st.gid) rmdirSync(at);
    } catch {
      /* gone */
    }
  }
}

function lstatOrNull(p: Buffer): Stats | null {
  try {
    return lstatSync(p);
  } catch {
    return null;
  }
}

/** overlayfs made the directory opaque (it replaced the lower one whole). */
function isOpaque(dir: Buffer): boolean {
  const r = spawnSync('getfattr', ['--absolute-names', '--only-values', '-n', opaqueName(ownNs()), dir.toString('latin1')], { encoding: 'buffer' });
  return r.status === 0 && r.stdout.toString().startsWith('y');
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
      dropMincArtifacts(join(img, 'root'), c.dir, layerChain(store, c.baseid!).map((id) => join(store.image(id), 'root')));
      const config = { ...imageConfig(store, c.baseid!), created: new Date().toISOString() };
      writeFileSync(join(img, 'baseid'), `${c.baseid}\n`);
      writeFileSync(join(img, 'layer.json'), `${JSON.stringify(ownLayerInfo())}\n`);
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

