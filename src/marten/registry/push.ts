/**
 * marten push IMAGE [[REGISTRY/]NAME[:TAG]]: each layer blob (packed from the
 * layer directory if the store has none yet, whiteouts in OCI form) and the
 * config, unless the registry has them already, then the OCI manifest.
 */
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import { MincError, withContext } from '../../errors.js';
import { distMeta, layersInTurn } from '../dist.js';
import { repoTag } from '../exporter.js';
import { resolveImage } from '../model.js';
import { MT } from '../oci.js';
import type { Store } from '../store.js';
import { mapLimit } from '../util.js';
import { RegistryClient } from './client.js';
import { makeProgress, type Progress } from './progress.js';
import { parseRef, refString } from './ref.js';

async function uploadBlob(client: RegistryClient, digest: string, size: number, body: () => Readable | string, progress: Progress): Promise<void> {
  const head = await client.request(`/blobs/${digest}`, { method: 'HEAD' }, [200, 404]);
  if (head.status === 200) {
    progress.done(digest, 'already in the registry');
    return;
  }
  const start = await client.request('/blobs/uploads/', { method: 'POST' }, [202]);
  const location = start.headers.get('location');
  if (!location) throw new MincError('the registry gave no upload location');
  const url = new URL(location, client.base);
  url.searchParams.set('digest', digest);
  const tick = progress.add(digest, size);
  const b = body();
  let data: BodyInit;
  if (typeof b === 'string') data = b;
  else {
    b.on('data', (c: Buffer) => tick(c.length));
    data = Readable.toWeb(b) as unknown as BodyInit;
  }
  await client.request(url.toString(), {
    method: 'PUT',
    headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) },
    body: data,
    duplex: 'half',
    // each chunk sent feeds the stall watchdog: a long upload is not a stall
    feed: typeof b === 'string' ? undefined : (poke) => b.on('data', poke),
  }, [201]);
  progress.done(digest, 'pushed');
}

export async function push(store: Store, image: string, dest: string | undefined, opts: { insecure?: boolean } = {}): Promise<string> {
  const img = resolveImage(store, image);
  const target = dest ?? (img.name ? repoTag(img.name) : undefined);
  if (!target) throw new MincError(`image ${img.id.slice(0, 12)} has no name: say where to push it (marten push IMAGE [REGISTRY/]NAME[:TAG])`);
  const ref = parseRef(target);
  const client = new RegistryClient(ref, { insecure: opts.insecure, push: true });
  try {
    await client.ensureAuth();
    // each layer is uploaded as soon as it is packed, while the next one is packed
    const turn = layersInTurn(store, img.id);
    const progress = await makeProgress('push');
    let dist: ReturnType<typeof distMeta>;
    try {
      const layers = await mapLimit(turn.layers, 3, async (packing) => {
        const l = await packing;
        try {
          await uploadBlob(client, l.blob.digest, l.blob.size, () => createReadStream(store.blob(l.blob.digest), { highWaterMark: 1024 * 1024 }), progress);
        } catch (err) {
          throw withContext(`layer ${l.blob.digest}`, err);
        }
        return l;
      });
      dist = distMeta(store, img.id, layers.map((l) => l.diffId), layers.map((l) => l.blob));
      await uploadBlob(client, dist.config.digest, dist.config.size, () => dist.configText, progress);
    } catch (err) {
      turn.stop();
      throw err;
    } finally {
      progress.stop();
    }
    const tag = ref.digest ?? ref.tag ?? 'latest';
    if (ref.digest && ref.digest !== dist.manifest.digest) throw new MincError(`the manifest is ${dist.manifest.digest}, not ${ref.digest}`);
    await client.request(`/manifests/${tag}`, { method: 'PUT', headers: { 'content-type': MT.ociManifest }, body: dist.manifestText }, [201]);
    return `${refString({ ...ref, digest: undefined })}@${dist.manifest.digest}`;
  } catch (err) {
    throw withContext(`pushing ${img.name ?? img.id.slice(0, 12)} to ${target}`, err);
  }
}
