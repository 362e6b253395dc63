/**
 * marten pull REF: manifest (an index picks the platform), config, then the
 * layers concurrently, each downloaded into its blob file (sha256 checked on
 * the way, renamed into blobs/ when right), as skopeo's OCI layout does; a
 * layer is unpacked (and its DiffID checked) on its first use, layers/lazy.ts.
 * Blobs and layers already in the store are not fetched again.  Nothing
 * reaches images/ until all is there.
 */
import { renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { MincError, withContext } from '../../errors.js';
import { checkName, installImage, layerIds, type StagedLayer } from '../install.js';
import { hostPlatform, INDEX_TYPES, MANIFEST_TYPES, MT, parsePlatform, platformString, sha256, type Descriptor, type ImageConfig, type Index, type Manifest } from '../oci.js';
import { pickPlatform } from '../platform.js';
import { digestHex, type Store } from '../store.js';
import { withStaging } from '../txn.js';
import { mapLimit } from '../util.js';
import { ioError, MAX_JSON, saveBlob } from './http.js';
import { rawGet } from './rawget.js';
import { checkConfig, checkIndex, checkManifest, parseJson, printable } from './shape.js';
import { RegistryClient } from './client.js';
import { makeProgress, type Progress } from './progress.js';
import { fullRefString, parseRef } from './ref.js';

export interface PullOptions {
  platform?: string;
  insecure?: boolean;
  name?: string;
}

const ACCEPT = [MT.ociIndex, MT.dockerList, MT.ociManifest, MT.dockerManifest].join(', ');

type Fetched = { kind: 'index'; index: Index; mediaType: string } | { kind: 'manifest'; manifest: Manifest; mediaType: string };

/**
 * A manifest or index by tag or digest (at most 4 MiB), its shape checked; by digest, its
 * digest checked, and when an index's descriptor led here, its size and media type too.
 */
async function getManifest(client: RegistryClient, reference: string, from?: Descriptor): Promise<Fetched> {
  const label = `manifest ${reference}`;
  const res = await client.getBytes(`/manifests/${reference}`, label, { accept: ACCEPT });
  const digest = sha256(res.bytes);
  if (reference.startsWith('sha256:') && digest !== reference) throw new MincError(`${label}: digest mismatch (got ${digest})`);
  if (from && res.bytes.length !== from.size) throw new MincError(`${label}: ${res.bytes.length} bytes, the index says ${from.size}`);
  const body = parseJson(res.bytes, label);
  const declared = typeof (body as { mediaType?: unknown } | null)?.mediaType === 'string' ? (body as { mediaType: string }).mediaType : '';
  let mediaType = declared || res.contentType.split(';')[0]!.trim();
  if (!mediaType || mediaType === 'application/json') {
    mediaType = typeof body === 'object' && body !== null && 'manifests' in body ? MT.ociIndex : MT.ociManifest;
  }
  if ((body as { schemaVersion?: unknown } | null)?.schemaVersion === 1) throw new MincError(`${label}: schema 1 manifests are not supported (push the image again with a current client)`);
  if (from && mediaType !== from.mediaType) throw new MincError(`${label}: the index says ${printable(from.mediaType)}, the registry sent ${printable(mediaType)}`);
  if (INDEX_TYPES.includes(mediaType)) return { kind: 'index', index: checkIndex(body, `index ${reference}`), mediaType };
  if (MANIFEST_TYPES.includes(mediaType)) return { kind: 'manifest', manifest: checkManifest(body, label), mediaType };
  throw new MincError(`${label}: unsupported media type ${JSON.stringify(mediaType.slice(0, 200))} (expected an OCI or Docker schema 2 manifest or index)`);
}

/** The image config its descriptor names: at most 4 MiB, its digest and shape checked. */
async function getConfig(client: RegistryClient, d: Descriptor): Promise<{ config: ImageConfig; text: string }> {
  const label = `config ${d.digest}`;
  if (d.size > MAX_JSON) throw new MincError(`${label}: its descriptor says ${d.size} bytes: exceeded maximum allowed size (${MAX_JSON >> 20} MiB)`);
  const { bytes } = await client.getBytes(`/blobs/${d.digest}`, label);
  const got = sha256(bytes);
  if (got !== d.digest) throw new MincError(`${label}: digest mismatch (got ${got})`);
  const config = checkConfig(parseJson(bytes, label), label);
  return { config, text: bytes.toString('utf8') };
}

/**
 * Download a layer's blob into staging, bounded by its descriptor's size, its sha256
 * computed on the way; resolves to the verified file, which pull moves into blobs/ once
 * every layer is there (a failed pull adds no blob).
 */
async function fetchBlob(client: RegistryClient, staging: string, layer: Descriptor, progress: Progress): Promise<string> {
  const what = `blob ${layer.digest}`;
  const tmp = join(staging, `blob-${digestHex(layer.digest)}`);
  try {
    const tick = progress.add(layer.digest, layer.size);
    const path = `/blobs/${layer.digest}`;
    // plain http: a bare socket (rawget.ts); anything but a plain 200 is asked again the ordinary way
    // (a new token, a redirect, https, or the error in one line)
    const raw = await rawGet({ ...client.plainGet(path), file: tmp, size: layer.size, what }, tick);
    const fetched = 'digest' in raw ? raw.digest : await saveBlob(await client.get(path, {}, what), what, layer.size, tmp, tick);
    if (fetched !== layer.digest) throw new MincError(`${what}: digest mismatch (got ${fetched})`);
    progress.done(layer.digest, 'done');
    return tmp;
  } catch (err) {
    rmSync(tmp, { force: true });
    // marten's own errors name the blob already
    throw err instanceof MincError ? err : withContext(what, err);
  }
}

/** Move the verified blobs from staging into blobs/. */
function storeBlobs(store: Store, done: Map<string, string>): void {
  for (const [digest, file] of done) {
    try {
      renameSync(file, store.blob(digest));
    } catch (err) {
      throw ioError(`blob ${digest}: moving it into ${store.blob(digest)}`, err);
    }
  }
}

export async function pull(store: Store, spec: string, opts: PullOptions = {}): Promise<string> {
  const ref = parseRef(spec);
  if (opts.name) checkName(opts.name);
  const want = opts.platform ? parsePlatform(opts.platform) : hostPlatform();
  const client = new RegistryClient(ref, { insecure: opts.insecure });
  try {
    let m = await getManifest(client, ref.digest ?? ref.tag ?? 'latest');
    if (m.kind === 'index') {
      const d = pickPlatform(m.index.manifests, want);
      if (!d) {
        const have = printable(m.index.manifests.map((x) => (x.platform ? platformString(x.platform) : '?')).join(', '), 500);
        throw new MincError(`no image for ${platformString(want)} (it has ${have || 'none'}; choose with --platform)`);
      }
      if (!MANIFEST_TYPES.includes(d.mediaType)) throw new MincError(`index: the entry for ${platformString(want)} is a ${printable(d.mediaType)}, not an image manifest`);
      m = await getManifest(client, d.digest, d);
      if (m.kind !== 'manifest') throw new MincError(`manifest ${d.digest}: an index inside an index is not supported`);
    }
    const manifest = m.manifest;
    const { config, text: configText } = await getConfig(client, manifest.config);
    const diffIds = config.rootfs!.diff_ids;
    if (diffIds.length !== manifest.layers.length) throw new MincError(`the config lists ${diffIds.length} layers, the manifest ${manifest.layers.length}`);
    if (opts.platform && (config.architecture !== want.architecture || (config.os ?? 'linux') !== want.os)) {
      throw new MincError(`the image is for ${printable(`${config.os}/${config.architecture}`)}, not ${platformString(want)}`);
    }
    const ids = layerIds(diffIds);
    // the full reference names it: two repositories of one last name never take each other's
    // name; `li` shows the short form where it is unique, and short forms resolve (model.ts)
    const name = opts.name ?? fullRefString(ref);
    return await withStaging(store, async (staging) => {
      const progress = await makeProgress('pull');
      try {
        // each blob once, however many times the manifest lists it
        const fetching = new Map<string, Promise<string>>();
        const fetched = new Map<string, string>();
        const staged = await mapLimit(manifest.layers, 4, async (layer, i): Promise<StagedLayer> => {
          if (store.hasImageDir(ids[i]!)) {
            progress.done(layer.digest, 'already in the store');
            return { info: { diffId: diffIds[i]!, digest: layer.digest } };
          }
          const info = { diffId: diffIds[i]!, digest: layer.digest, size: layer.size, mediaType: layer.mediaType };
          if (store.hasBlob(layer.digest)) {
            progress.done(layer.digest, 'blob already in the store');
            return { packed: true, info };
          }
          let p = fetching.get(layer.digest);
          if (!p) {
            p = fetchBlob(client, staging, layer, progress).then((f) => (fetched.set(layer.digest, f), f));
            fetching.set(layer.digest, p);
          }
          await p;
          return { packed: true, info };
        });
        storeBlobs(store, fetched);
        return await installImage(store, staging, staged, config, name, configText);
      } finally {
        progress.stop();
      }
    });
  } catch (err) {
    throw withContext(`pulling ${spec}`, err);
  }
}
