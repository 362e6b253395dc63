/**
 * An image as it travels (push, export): its layers bottom first as blobs
 * (packed from the layer directory the first time, then kept under blobs/),
 * its config with matching diff_ids, and an OCI manifest.
 */
import { createReadStream, createWriteStream, existsSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { MincError, withContext } from '../errors.js';
import { compressionOf } from './layers/extract.js';
import { Hasher } from './layers/hasher.js';
import { packLayer } from './layers/pack.js';
import { imageConfigText, layerChain, layerInfo, type LayerInfo } from './model.js';
import { defaultConfig, MT, sha256, type Descriptor, type ImageConfig, type Manifest } from './oci.js';
import type { Store } from './store.js';
import { randomId, writeAtomic } from './txn.js';

export interface DistLayer {
  id: string;
  diffId: string;
  /** the compressed blob, stored under blobs/ */
  blob: Descriptor;
}

export interface DistImage {
  layers: DistLayer[];
  configText: string;
  config: Descriptor;
  manifestText: string;
  manifest: Descriptor;
}

const layerMediaType = (info: LayerInfo): string => {
  const c = compressionOf(info.mediaType);
  return c === 'gzip' ? MT.ociLayerGzip : c === 'zstd' ? 'application/vnd.oci.image.layer.v1.tar+zstd' : MT.ociLayer;
};

/** The layer's blob, packing the layer directory (gzip) if none is stored yet. */
async function layerBlob(store: Store, id: string): Promise<DistLayer> {
  const info = layerInfo(store, id);
  if (info.diffId && info.digest && store.hasBlob(info.digest)) {
    return { id, diffId: info.diffId, blob: { mediaType: layerMediaType(info), digest: info.digest, size: info.size ?? 0 } };
  }
  const tmp = join(store.blobs, `.pack-${process.pid}-${randomId().slice(0, 8)}`);
  try {
    const p = await packLayer(join(store.image(id), 'root'), tmp);
    renameSync(tmp, store.blob(p.digest));
    const next: LayerInfo = { diffId: p.diffId, digest: p.digest, size: p.size, mediaType: MT.ociLayerGzip };
    writeAtomic(join(store.image(id), 'layer.json'), `${JSON.stringify(next)}\n`);
    return { id, diffId: p.diffId, blob: { mediaType: MT.ociLayerGzip, digest: p.digest, size: p.size } };
  } catch (err) {
    rmSync(tmp, { force: true });
    throw withContext(`layer ${id.slice(0, 12)}`, err);
  }
}

/** The config for these layers: the stored text itself if its diff_ids already match. */
function configFor(text: string | null, diffIds: string[]): string {
  const stored: ImageConfig = text ? (JSON.parse(text) as ImageConfig) : defaultConfig();
  const same = JSON.stringify(stored.rootfs?.diff_ids ?? []) === JSON.stringify(diffIds);
  if (same && text) return text;
  const c: ImageConfig = { ...stored, rootfs: { type: 'layers', diff_ids: diffIds } };
  delete c.history; // it would no longer match the layers
  return JSON.stringify(c);
}

export async function distImage(store: Store, id: string): Promise<DistImage> {
  const ids = layerChain(store, id).reverse().filter((l) => !layerInfo(store, l).empty);
  const layers: DistLayer[] = [];
  for (const l of ids) layers.push(await layerBlob(store, l));
  const configText = configFor(imageConfigText(store, id), layers.map((l) => l.diffId));
  const config: Descriptor = { mediaType: MT.ociConfig, digest: sha256(configText), size: Buffer.byteLength(configText) };
  const manifest: Manifest & { mediaType: string } = { schemaVersion: 2, mediaType: MT.ociManifest, config, layers: layers.map((l) => l.blob) };
  const manifestText = JSON.stringify(manifest);
  return { layers, configText, config, manifestText, manifest: { mediaType: MT.ociManifest, digest: sha256(manifestText), size: Buffer.byteLength(manifestText) } };
}

/** The layer uncompressed into file (for docker-archive export); its sha256 is checked against the DiffID. */
export async function uncompressedLayer(store: Store, layer: DistLayer, file: string): Promise<void> {
  const kind = compressionOf(layer.blob.mediaType);
  if (kind === 'zstd') throw new MincError(`layer ${layer.id.slice(0, 12)}: exporting zstd layers is not supported`);
  const h = new Hasher();
  const src = createReadStream(store.blob(layer.blob.digest));
  await (kind === 'gzip' ? pipeline(src, createGunzip(), h, createWriteStream(file)) : pipeline(src, h, createWriteStream(file)));
  if (h.digest() !== layer.diffId) throw new MincError(`layer ${layer.id.slice(0, 12)}: its blob does not unpack to its DiffID`);
}

export const blobExists = (store: Store, d: string): boolean => existsSync(store.blob(d));
