/**
 * An image as it travels.  A push: its layers bottom first as gzip blobs
 * (packed from the layer directory the first time, uploaded as they are
 * made, and kept under blobs/),
 * its config with matching diff_ids, and an OCI manifest.  An export: each
 * layer as a plain tar stream, from its stored blob when there is one (it is
 * what the config's diff_ids name), else packed from the layer directory,
 * never compressed on the way (exportLayers).
 */
import { createReadStream, existsSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { pipeline, type Readable, type Writable } from 'node:stream';
import { pipeline as pipe } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { MincError } from '../errors.js';
import { compressionOf } from './layers/extract.js';
import { layerChunks, packLayer } from './layers/pack.js';
import { imageConfigText, layerChain, layerInfo, layerNs, type LayerInfo } from './model.js';
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

/** The layer's stored blob, or null if none is stored yet (a push packs it then). */
export function storedLayer(store: Store, id: string): DistLayer | null {
  const info = layerInfo(store, id);
  if (info.diffId && info.digest && store.hasBlob(info.digest)) {
    return { id, diffId: info.diffId, blob: { mediaType: layerMediaType(info), digest: info.digest, size: info.size ?? 0 } };
  }
  return null;
}

/**
 * The layer's blob, packing the layer directory (gzip) if none is stored yet;
 * tee: a push's upload, given the blob's bytes as they are made (and ended,
 * or destroyed if the packing fails).
 */
export async function layerBlob(store: Store, id: string, tee?: Writable): Promise<DistLayer> {
  const stored = storedLayer(store, id);
  if (stored) {
    // stored meanwhile (another push of the same layer): the upload gets that blob
    if (tee) await pipe(createReadStream(store.blob(stored.blob.digest), { highWaterMark: 1 << 20 }), tee);
    return stored;
  }
  const info = layerInfo(store, id);
  const tmp = join(store.blobs, `.pack-${process.pid}-${randomId().slice(0, 8)}`);
  try {
    const p = await packLayer(join(store.image(id), 'root'), tmp, { ns: layerNs(store, id), tee });
    renameSync(tmp, store.blob(p.digest));
    const next: LayerInfo = { diffId: p.diffId, digest: p.digest, size: p.size, mediaType: MT.ociLayerGzip, ...(info.overlay ? { overlay: info.overlay } : {}) };
    writeAtomic(join(store.image(id), 'layer.json'), `${JSON.stringify(next)}\n`);
    return { id, diffId: p.diffId, blob: { mediaType: MT.ociLayerGzip, digest: p.digest, size: p.size } };
  } catch (err) {
    rmSync(tmp, { force: true });
    if (tee && !tee.destroyed) tee.destroy(err as Error);
    throw err; // the push names the layer
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

/** The layers of an image that travel, bottom first (config-only layers are not distributed). */
export const travelling = (store: Store, id: string): string[] => layerChain(store, id).reverse().filter((l) => !layerInfo(store, l).empty);

/** The config (diff_ids matching) and OCI manifest of an image whose layers are these blobs. */
export function distMeta(store: Store, id: string, diffIds: string[], blobs: Descriptor[]): Omit<DistImage, 'layers'> {
  const configText = configFor(imageConfigText(store, id), diffIds);
  const config: Descriptor = { mediaType: MT.ociConfig, digest: sha256(configText), size: Buffer.byteLength(configText) };
  const manifest: Manifest & { mediaType: string } = { schemaVersion: 2, mediaType: MT.ociManifest, config, layers: blobs };
  const manifestText = JSON.stringify(manifest);
  return { configText, config, manifestText, manifest: { mediaType: MT.ociManifest, digest: sha256(manifestText), size: Buffer.byteLength(manifestText) } };
}

export interface ExportLayer {
  id: string;
  /** the DiffID the tar must hash to (a stored blob's), or undefined when it is packed now */
  diffId?: string;
  /** the layer as a plain tar: a stream (a blob gunzipped) or pieces (the layer directory walked) */
  open: () => Promise<Readable | Iterable<Buffer>>;
}

/** An image's layers for an export, bottom first: nothing is packed or compressed until each is opened. */
export function exportLayers(store: Store, id: string): ExportLayer[] {
  return travelling(store, id).map((l): ExportLayer => {
    const info = layerInfo(store, l);
    if (info.diffId && info.digest && store.hasBlob(info.digest)) {
      const kind = compressionOf(info.mediaType ?? '');
      if (kind === 'zstd') throw new MincError(`layer ${l.slice(0, 12)}: exporting zstd layers is not supported`);
      const blob = store.blob(info.digest);
      return {
        id: l,
        diffId: info.diffId,
        open: async () => {
          const src = createReadStream(blob, { highWaterMark: 1 << 20 });
          // pipeline: an error on either side reaches the reader, and ends both
          return kind === 'gzip' ? pipeline(src, createGunzip({ chunkSize: 1 << 20 }), () => {}) : src;
        },
      };
    }
    return { id: l, open: () => layerChunks(join(store.image(l), 'root'), layerNs(store, l)) };
  });
}

export const blobExists = (store: Store, d: string): boolean => existsSync(store.blob(d));
