/**
 * Pulled layers are stored as their verified blobs only (as skopeo's OCI
 * layout does); each is unpacked on its first use (minc -r IMAGE, marten
 * unpack): into a staging dir, its DiffID checked against the config's, then
 * renamed into images/<id>/root under the store's lock.  A failed or killed
 * unpack leaves the layer packed, never half unpacked.
 */
import { existsSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { MincError, withContext } from '../../errors.js';
import { isPacked, layerChain, layerInfo, ownLayerInfo, shortId } from '../model.js';
import type { Store } from '../store.js';
import { withLock, withStaging, writeAtomic } from '../txn.js';
import { mapLimit } from '../util.js';
import { untarLayerFile, type UnpackOptions } from './extract.js';

/** Unpack the image's packed layers (in parallel); resolves to the ids unpacked. */
export async function unpackImage(store: Store, id: string, opts: UnpackOptions = {}): Promise<string[]> {
  const packed = layerChain(store, id).filter((l) => isPacked(store, l));
  if (packed.length === 0) return [];
  return withStaging(store, async (staging) => {
    const roots = await mapLimit(packed, 3, async (l) => {
      const info = layerInfo(store, l);
      const dest = join(staging, l);
      try {
        const got = await untarLayerFile(store.blob(info.digest!), dest, info.mediaType, undefined, opts);
        if (got !== info.diffId) throw new MincError(`its content is ${got}, the config says ${info.diffId}`);
      } catch (err) {
        throw withContext(`unpacking layer ${shortId(l)} (${info.digest})`, err);
      }
      return dest;
    });
    return withLock(store, () => {
      packed.forEach((l, i) => {
        if (!existsSync(store.image(l))) throw new MincError(`layer ${shortId(l)} was removed meanwhile`);
        if (existsSync(join(store.image(l), 'root'))) return;
        // the form of its marks first: a root/ is never there without it
        const own = ownLayerInfo();
        if (own.overlay) writeAtomic(join(store.image(l), 'layer.json'), `${JSON.stringify({ ...layerInfo(store, l), ...own })}\n`);
        renameSync(roots[i]!, join(store.image(l), 'root'));
      });
      return packed;
    });
  });
}
