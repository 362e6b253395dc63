/** Reading an unpacked OCI image layout (oci-layout, index.json, blobs/sha256/...): bounded reads, shapes checked. */
import { join } from 'node:path';
import { MincError } from '../../errors.js';
import type { ArchiveImage } from '../importer.js';
import { hostPlatform, INDEX_TYPES, sha256, type Descriptor, type ImageConfig, type Index, type Manifest } from '../oci.js';
import { digestHex } from '../store.js';
import { pickPlatform } from '../platform.js';
import { parseJson, readJsonMember, readMember } from './outer.js';
import { array, descriptor, imageConfig, object } from './shape.js';

export function blobPath(dir: string, digest: string): string {
  return join(dir, 'blobs', 'sha256', digestHex(digest));
}

/** A small blob (manifest, index, config), its size and digest checked. */
function readBlob(dir: string, d: Descriptor, what: string): unknown {
  const data = readMember(dir, `blobs/sha256/${digestHex(d.digest)}`, `the ${what} ${d.digest}`);
  if (data.length !== d.size || sha256(data) !== d.digest) throw new MincError(`the ${what} ${d.digest} does not match its descriptor (size or digest)`);
  return parseJson(data, `the ${what} ${d.digest}`);
}

const indexOf = (v: unknown, doc: string): Index => {
  const o = object(v, doc, '');
  return { schemaVersion: 2, manifests: array(o.manifests, doc, 'manifests').map((m, i) => descriptor(m, doc, `manifests[${i}]`)) };
};

const manifestOf = (v: unknown, doc: string): Manifest => {
  const o = object(v, doc, '');
  return { schemaVersion: 2, config: descriptor(o.config, doc, 'config'), layers: array(o.layers, doc, 'layers').map((l, i) => descriptor(l, doc, `layers[${i}]`)) };
};

export function readOciLayout(dir: string): ArchiveImage {
  const index = indexOf(readJsonMember(dir, 'index.json', 'index.json'), 'index.json');
  let desc: Descriptor | undefined = index.manifests.length === 1 ? index.manifests[0] : pickPlatform(index.manifests, hostPlatform());
  if (!desc) throw new MincError('the OCI layout names no image');
  // a full name (containerd's annotation), or a ref.name that is more than a tag
  const ref = desc.annotations?.['org.opencontainers.image.ref.name'];
  const refName = desc.annotations?.['io.containerd.image.name'] ?? (ref && /[:/]/.test(ref) ? ref : undefined);
  for (let depth = 0; INDEX_TYPES.includes(desc.mediaType); depth++) {
    if (depth > 4) throw new MincError('the OCI layout nests indexes too deeply');
    const nested = indexOf(readBlob(dir, desc, 'index'), `the index ${desc.digest}`);
    desc = pickPlatform(nested.manifests, hostPlatform());
    if (!desc) throw new MincError('the OCI layout has no image for this platform');
  }
  const manifest = manifestOf(readBlob(dir, desc, 'manifest'), `the manifest ${desc.digest}`);
  const config: ImageConfig = imageConfig(readBlob(dir, manifest.config, 'config'), `the config ${manifest.config.digest}`);
  return {
    layers: manifest.layers.map((l) => ({ file: blobPath(dir, l.digest), mediaType: l.mediaType, digest: l.digest })),
    config,
    name: refName,
  };
}
