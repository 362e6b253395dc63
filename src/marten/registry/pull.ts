/**
 * marten pull REF: manifest (an index picks the platform), config, then the
 * layers concurrently, each downloaded into its blob file (sha256 checked on
 * the way, renamed into blobs/ when right), as skopeo's OCI layout does; a
 * layer is unpacked (and its DiffID checked) on its first use, layers/lazy.ts.
 * Blobs and layers already in the store are not fetched again.  Nothing
 * reaches images/ until all is there.
 */
import { createWriteStream, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { MincError, withContext } from '../../errors.js';
import { shortName } from '../importer.js';
import { checkName, installImage, layerIds, type StagedLayer } from '../install.js';
import { Hasher } from '../layers/hasher.js';
import { hostPlatform, INDEX_TYPES, MANIFEST_TYPES, MT, parsePlatform, platformString, sha256, type Descriptor, type ImageConfig, type Index, type Manifest } from '../oci.js';
import { pickPlatform } from '../platform.js';
import { digestHex, type Store } from '../store.js';
import { randomId, withStaging } from '../txn.js';
import { mapLimit } from '../util.js';
import { rawGet } from './rawget.js';
import { RegistryClient } from './client.js';
import { makeProgress, type Progress } from './progress.js';
import { parseRef, refString } from './ref.js';

export interface PullOptions {
  platform?: string;
  insecure?: boolean;
  name?: string;
}

const ACCEPT = [MT.ociIndex, MT.dockerList, MT.ociManifest, MT.dockerManifest].join(', ');

/** A manifest or index by tag or digest; its digest checked when asked by digest. */
async function getManifest(client: RegistryClient, reference: string): Promise<{ text: string; mediaType: string; digest: string }> {
  const res = await client.getText(`/manifests/${reference}`, { accept: ACCEPT });
  const text = res.text;
  const digest = sha256(text);
  if (reference.startsWith('sha256:') && digest !== reference) throw new MincError(`manifest ${reference}: digest mismatch (got ${digest})`);
  let mediaType = res.contentType.split(';')[0]!.trim();
  try {
    const body = JSON.parse(text) as { mediaType?: string; manifests?: unknown; schemaVersion?: number };
    if (body.mediaType) mediaType = body.mediaType;
    else if (!mediaType || mediaType === 'application/json') mediaType = body.manifests ? MT.ociIndex : MT.ociManifest;
    if (body.schemaVersion === 1) throw new MincError('schema 1 manifests are not supported');
  } catch (err) {
    if (err instanceof MincError) throw err;
    throw new MincError(`manifest ${reference}: not JSON`);
  }
  return { text, mediaType, digest };
}

/**
 * Download a layer's blob into staging, its sha256 computed on the way;
 * renamed into blobs/ only when right.
 */
async function fetchLayer(store: Store, client: RegistryClient, staging: string, layer: Descriptor, diffId: string,
  progress: Progress): Promise<StagedLayer> {
  const info = { diffId, digest: layer.digest, size: layer.size, mediaType: layer.mediaType };
  if (store.hasBlob(layer.digest)) {
    progress.done(layer.digest, 'blob already in the store');
    return { packed: true, info };
  }
  const tmp = join(staging, `blob-${digestHex(layer.digest)}`);
  try {
    const tick = progress.add(layer.digest, layer.size);
    const path = `/blobs/${layer.digest}`;
    const ordinary = async (): Promise<string> => {
      const res = await client.get(path);
      const hash = new Hasher(tick);
      await pipeline(res, hash, createWriteStream(tmp, { highWaterMark: 1 << 20 }));
      return hash.digest();
    };
    // plain http: a bare socket (rawget.ts); anything but a plain 200 is asked again the ordinary way
    // (a new token, a redirect, https, or the error in one line)
    const raw = await rawGet({ ...client.plainGet(path), file: tmp }, tick);
    const fetched = 'digest' in raw ? raw.digest : await ordinary();
    if (fetched !== layer.digest) throw new MincError(`digest mismatch: expected ${layer.digest}, got ${fetched}`);
    renameSync(tmp, store.blob(layer.digest));
    progress.done(layer.digest, 'done');
    return { packed: true, info };
  } finally {
    rmSync(tmp, { force: true });
  }
}

export async function pull(store: Store, spec: string, opts: PullOptions = {}): Promise<string> {
  const ref = parseRef(spec);
  if (opts.name) checkName(opts.name);
  const want = opts.platform ? parsePlatform(opts.platform) : hostPlatform();
  const client = new RegistryClient(ref, { insecure: opts.insecure });
  try {
    let m = await getManifest(client, ref.digest ?? ref.tag ?? 'latest');
    if (INDEX_TYPES.includes(m.mediaType)) {
      const index = JSON.parse(m.text) as Index;
      const d = pickPlatform(index.manifests ?? [], want);
      if (!d) {
        const have = (index.manifests ?? []).map((x) => (x.platform ? platformString(x.platform) : '?')).join(', ');
        throw new MincError(`no image for ${platformString(want)} (it has ${have}; choose with --platform)`);
      }
      m = await getManifest(client, d.digest);
    }
    if (!MANIFEST_TYPES.includes(m.mediaType)) throw new MincError(`unsupported manifest type ${m.mediaType}`);
    const manifest = JSON.parse(m.text) as Manifest;
    const configText = (await client.getText(`/blobs/${manifest.config.digest}`)).text;
    if (sha256(configText) !== manifest.config.digest) throw new MincError(`config ${manifest.config.digest}: digest mismatch`);
    const config = JSON.parse(configText) as ImageConfig;
    const diffIds = config.rootfs?.diff_ids ?? [];
    if (diffIds.length !== manifest.layers.length) throw new MincError(`the config lists ${diffIds.length} layers, the manifest ${manifest.layers.length}`);
    if (opts.platform && (config.architecture !== want.architecture || (config.os ?? 'linux') !== want.os)) {
      throw new MincError(`the image is for ${config.os}/${config.architecture}, not ${platformString(want)}`);
    }
    const ids = layerIds(diffIds);
    const name = opts.name ?? shortName(refString(ref));
    return await withStaging(store, async (staging) => {
      const progress = await makeProgress('pull');
      try {
        const staged = await mapLimit(manifest.layers, 4, async (layer, i): Promise<StagedLayer> => {
          if (store.hasImageDir(ids[i]!)) {
            progress.done(layer.digest, 'already in the store');
            return { info: { diffId: diffIds[i]!, digest: layer.digest } };
          }
          try {
            return await fetchLayer(store, client, staging, layer, diffIds[i]!, progress);
          } catch (err) {
            throw withContext(`layer ${layer.digest}`, err);
          }
        });
        return await installImage(store, staging, staged, config, name, configText);
      } finally {
        progress.stop();
      }
    });
  } catch (err) {
    throw withContext(`pulling ${spec}`, err);
  }
}
