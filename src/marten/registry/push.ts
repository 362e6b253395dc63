/**
 * marten push IMAGE [[REGISTRY/]NAME[:TAG]]: each layer blob and the config,
 * unless the registry has them already, then the OCI manifest.  A layer the
 * store has no blob for yet is packed (whiteouts in OCI form) and gzipped
 * straight into the upload while the same bytes go to the store, as skopeo
 * does: a chunked PATCH of what comes, then PUT with the digest it turned
 * out to have.  A layer never packed has no digest to ask the registry about
 * first; a blob it already had is simply stored once more.
 */
import { createReadStream } from 'node:fs';
import { PassThrough, Readable } from 'node:stream';
import { MincError, withContext } from '../../errors.js';
import { distMeta, layerBlob, storedLayer, travelling, type DistLayer } from '../dist.js';
import { repoTag } from '../exporter.js';
import { resolveImage } from '../model.js';
import { MT } from '../oci.js';
import type { Store } from '../store.js';
import { humanSize, mapLimit } from '../util.js';
import { RegistryClient } from './client.js';
import { makeProgress, type Progress } from './progress.js';
import { parseRef, refString } from './ref.js';

/** The upload URL a registry reply (POST, PATCH) names. */
function uploadUrl(client: RegistryClient, res: Response): URL {
  const location = res.headers.get('location');
  if (!location) throw new MincError('the registry gave no upload location');
  return new URL(location, client.base);
}

const octets = { 'content-type': 'application/octet-stream' };

async function uploadBlob(client: RegistryClient, digest: string, size: number, body: () => Readable | string, progress: Progress): Promise<void> {
  const head = await client.request(`/blobs/${digest}`, { method: 'HEAD' }, [200, 404]);
  if (head.status === 200) {
    progress.done(digest, 'already in the registry');
    return;
  }
  const url = uploadUrl(client, await client.request('/blobs/uploads/', { method: 'POST' }, [202]));
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
    headers: { ...octets, 'content-length': String(size) },
    body: data,
    duplex: 'half',
    // each chunk sent feeds the stall watchdog: a long upload is not a stall
    feed: typeof b === 'string' ? undefined : (poke) => b.on('data', poke),
  }, [201]);
  progress.done(digest, 'pushed');
}

/** A layer with no blob yet: packed and gzipped into the store and into a chunked upload at once. */
async function packAndUpload(client: RegistryClient, store: Store, id: string, progress: Progress): Promise<DistLayer> {
  const start = uploadUrl(client, await client.request('/blobs/uploads/', { method: 'POST' }, [202]));
  const body = new PassThrough({ highWaterMark: 1 << 20 });
  const tick = progress.add(id, null);
  body.on('data', (c: Buffer) => tick(c.length));
  let first: unknown; // the failure that came first: the other side's is its echo
  const note = (err: unknown): never => {
    first ??= err;
    throw err;
  };
  const sent = client.sendStream(start.toString(), 'PATCH', octets, body, [202]).catch((err: unknown) => {
    body.destroy(err as Error); // the packing would wait forever for room in the body
    return note(err);
  });
  const packed = layerBlob(store, id, body).catch(note);
  const [p, s] = await Promise.allSettled([packed, sent]);
  if (p.status === 'rejected' || s.status === 'rejected') throw first;
  if (!s.value.location) throw new MincError('the registry gave no upload location');
  const done = new URL(s.value.location, client.base);
  done.searchParams.set('digest', p.value.blob.digest);
  await client.request(done.toString(), { method: 'PUT', headers: { ...octets, 'content-length': '0' } }, [201]);
  progress.done(id, `pushed as ${p.value.blob.digest.slice(7, 19)} (${humanSize(p.value.blob.size)})`);
  return p.value;
}

/**
 * Layers packed at once: each is a walk on marten's thread and a gzip
 * program, and with one alone marten's thread was idle over a third of the
 * time (the walk, the pipes and the upload take turns); a second fills some
 * of that.
 */
const PACKS = 2;

/** At most n of the functions given run at once, in the order given. */
function slots(n: number): <T>(fn: () => Promise<T>) => Promise<T> {
  let running = 0;
  const waiting: (() => void)[] = [];
  return async (fn) => {
    if (running >= n) await new Promise<void>((res) => waiting.push(res));
    else running++;
    try {
      return await fn();
    } finally {
      const next = waiting.shift();
      if (next) next(); // the slot passes on
      else running--;
    }
  };
}

export async function push(store: Store, image: string, dest: string | undefined, opts: { insecure?: boolean } = {}): Promise<string> {
  const img = resolveImage(store, image);
  const target = dest ?? (img.name ? repoTag(img.name) : undefined);
  if (!target) throw new MincError(`image ${img.id.slice(0, 12)} has no name: say where to push it (marten push IMAGE [REGISTRY/]NAME[:TAG])`);
  const ref = parseRef(target);
  const client = new RegistryClient(ref, { insecure: opts.insecure, push: true });
  try {
    await client.ensureAuth();
    const progress = await makeProgress('push');
    let dist: ReturnType<typeof distMeta>;
    // layers to pack go PACKS at a time, bottom first; stored blobs alongside
    const slot = slots(PACKS);
    let failed: Error | undefined; // once set, no further layer is packed, and it is what every layer throws
    try {
      const layers = await mapLimit(travelling(store, img.id), 3, async (id) => {
        const l = storedLayer(store, id);
        try {
          if (l) {
            await uploadBlob(client, l.blob.digest, l.blob.size, () => createReadStream(store.blob(l.blob.digest), { highWaterMark: 1024 * 1024 }), progress);
            return l;
          }
          return await slot(() => {
            if (failed) throw failed;
            return packAndUpload(client, store, id, progress);
          });
        } catch (err) {
          failed ??= withContext(`layer ${l ? l.blob.digest : id.slice(0, 12)}`, err);
          throw failed;
        }
      });
      dist = distMeta(store, img.id, layers.map((l) => l.diffId), layers.map((l) => l.blob));
      await uploadBlob(client, dist.config.digest, dist.config.size, () => dist.configText, progress);
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
