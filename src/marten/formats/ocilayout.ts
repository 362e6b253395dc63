/** Reading an unpacked OCI image layout (oci-layout, index.json, blobs/sha256/...). */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { MincError, withContext } from '../../errors.js';
import type { ArchiveImage } from '../importer.js';
import { hostPlatform, INDEX_TYPES, sha256, type Descriptor, type ImageConfig, type Index, type Manifest } from '../oci.js';
import { digestHex } from '../store.js';
import { pickPlatform } from '../platform.js';

export function blobPath(dir: string, digest: string): string {
  return join(dir, 'blobs', 'sha256', digestHex(digest));
}

/** A small blob (manifest, index, config), its digest checked. */
function readBlob<T>(dir: string, d: Descriptor, what: string): T {
  let data: Buffer;
  try {
    data = readFileSync(blobPath(dir, d.digest));
  } catch (err) {
    throw withContext(`reading the ${what} ${d.digest}`, err);
  }
  if (sha256(data) !== d.digest) throw new MincError(`the ${what} ${d.digest} does not match its digest`);
  return JSON.parse(data.toString('utf8')) as T;
}

export function readOciLayout(dir: string): ArchiveImage {
  let index: Index;
  try {
    index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as Index;
  } catch (err) {
    throw withContext('reading index.json of the OCI layout', err);
  }
  let desc: Descriptor | undefined = index.manifests?.length === 1 ? index.manifests[0] : pickPlatform(index.manifests ?? [], hostPlatform());
  if (!desc) throw new MincError('the OCI layout names no image');
  // a full name (containerd's annotation), or a ref.name that is more than a tag
  const ref = desc.annotations?.['org.opencontainers.image.ref.name'];
  const refName = desc.annotations?.['io.containerd.image.name'] ?? (ref && /[:/]/.test(ref) ? ref : undefined);
  for (let depth = 0; INDEX_TYPES.includes(desc.mediaType); depth++) {
    if (depth > 4) throw new MincError('the OCI layout nests indexes too deeply');
    const nested: Index = readBlob<Index>(dir, desc, 'index');
    desc = pickPlatform(nested.manifests, hostPlatform());
    if (!desc) throw new MincError('the OCI layout has no image for this platform');
  }
  const manifest = readBlob<Manifest>(dir, desc, 'manifest');
  const config = readBlob<ImageConfig>(dir, manifest.config, 'config');
  return {
    layers: manifest.layers.map((l) => ({ file: blobPath(dir, l.digest), mediaType: l.mediaType, digest: l.digest })),
    config,
    name: refName,
  };
}
