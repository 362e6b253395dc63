/**
 * An image as it travels.  A push: its layers bottom first as gzip blobs
 * (packed from the layer directory the first time, then kept under blobs/),
 * its config with matching diff_ids, and an OCI manifest.  An export: each
 * layer as a plain tar stream, from its stored blob when there is one (it is
 * what the config's diff_ids name), else packed from the layer directory,
 * never compressed on the way (exportLayers).
 */
import { createReadStream, existsSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { pipeline, type Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { MincError, withContext } from '../errors.js';
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

/** The layer's blob, packing the layer directory (gzip) if none is stored yet. */
async function layerBlob(store: Store, id: string): Promise<DistLayer> {
  const info = layerInfo(store, id);
  if (info.diffId && info.digest && store.hasBlob(info.digest)) {
    return { id, diffId: info.diffId, blob: { mediaType: layerMediaType(info), digest: info.digest, size: info.size ?? 0 } };
  }
  const tmp = join(store.blobs, `.pack-${process.pid}-${randomId().slice(0, 8)}`);
  try {
    const p = await packLayer(join(store.image(id), 'root'), tmp, true, undefined, layerNs(store, id));
    renameSync(tmp, store.blob(p.digest));
    const next: LayerInfo = { diffId: p.diffId, digest: p.digest, size: p.size, mediaType: MT.ociLayerGzip, ...(info.overlay ? { overlay: info.overlay } : {}) };
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

/** The layers of an image that travel, bottom first (config-only layers are not distributed). */
const travelling = (store: Store, id: string): string[] => layerChain(store, id).reverse().filter((l) => !layerInfo(store, l).empty);

/** The config (diff_ids matching) and OCI manifest of an image whose layers are these blobs. */
export function distMeta(store: Store, id: string, diffIds: string[], blobs: Descriptor[]): Omit<DistImage, 'layers'> {
  const configText = configFor(imageConfigText(store, id), diffIds);
  const config: Descriptor = { mediaType: MT.ociConfig, digest: sha256(configText), size: Buffer.byteLength(configText) };
  const manifest: Manifest & { mediaType: string } = { schemaVersion: 2, mediaType: MT.ociManifest, config, layers: blobs };
  const manifestText = JSON.stringify(manifest);
  return { configText, config, manifestText, manifest: { mediaType: MT.ociManifest, digest: sha256(manifestText), size: Buffer.byteLength(manifestText) } };
}

/**
 * A push's layers, bottom first, packed (and gzipped) one after another as
 * promises: the push uploads each as soon as it is ready, while the next is
 * packed.  stop() packs no further layer (the push failed).
 */
export function layersInTurn(store: Store, id: string): { layers: Promise<DistLayer>[]; stop: () => void } {
  let stopped = false;
  let prev: Promise<unknown> = Promise.resolve();
  const layers = travelling(store, id).map((l) => {
    const p = prev.then(() => {
      if (stopped) throw new MincError('stopped');
      return layerBlob(store, l);
    });
    p.catch(() => undefined); // awaited by the push; a failure after it gave up is no crash
    prev = p;
    return p;
  });
  return { layers, stop: () => { stopped = true; } };
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
