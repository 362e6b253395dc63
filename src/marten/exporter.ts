/**
 * marten export IMAGE -o FILE: one tarball that is both a docker-archive
 * (manifest.json, as `docker save` writes) and an OCI image layout
 * (oci-layout, index.json, blobs/), the layers uncompressed so the same blob
 * serves both (Docker 25's layout).  `podman load`, `docker load` and
 * skopeo (docker-archive: and oci-archive:) read it.
 *
 * Each layer goes straight into the tarball, its DiffID hashed on the way:
 * from its stored blob (gunzipped) when there is one, else packed from the
 * layer directory.  Nothing is compressed, and nothing is kept in the store
 * (a push compresses, dist.ts).  The layers come first, the JSON that names
 * them last: tar readers (skopeo, podman, docker) look entries up by name.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, openSync, renameSync, rmSync } from 'node:fs';
import { Readable } from 'node:stream';
import { basename, dirname, join, resolve } from 'node:path';
import { MincError, withContext } from '../errors.js';
import { distMeta, exportLayers } from './dist.js';
import { TarFile } from './formats/tarfile.js';
import { resolveImage } from './model.js';
import { MT, type Descriptor } from './oci.js';
import type { Store } from './store.js';

/** The docker-style reference a name stands for (busybox -> busybox:latest). */
export const repoTag = (name: string): string => (/:[^/]+$/.test(name) || name.includes('@') ? name : `${name}:latest`);

const hex = (d: string): string => d.slice('sha256:'.length);
const blobName = (d: string): string => `blobs/sha256/${hex(d)}`;

export async function exportImage(store: Store, ref: string, output: string): Promise<string> {
  const img = resolveImage(store, ref);
  const out = resolve(output);
  try {
    const sources = exportLayers(store, img.id);
    // a random name made with O_EXCL (never through a link someone planted at a name they could guess), 0600 until complete
    const tmp = join(dirname(out), `.${basename(out)}.marten-${randomBytes(12).toString('hex')}`);
    const fd = openSync(tmp, 'wx', 0o600);
    let closed = false;
    try {
      const tar = new TarFile(fd);
      tar.dir('blobs/');
      tar.dir('blobs/sha256/');
      const layers: Descriptor[] = [];
      for (const l of sources) {
        const src = await l.open();
        try {
          const got = await tar.stream(src, blobName);
          if (l.diffId && got.digest !== l.diffId) throw new MincError(`layer ${l.id.slice(0, 12)}: its blob does not unpack to its DiffID`);
          layers.push({ mediaType: MT.ociLayer, digest: got.digest, size: got.size });
        } catch (err) {
          if (src instanceof Readable) src.destroy();
          throw withContext(`layer ${l.id.slice(0, 12)}`, err);
        }
      }
      const dist = distMeta(store, img.id, layers.map((l) => l.digest), layers);
      const tag = img.name ? repoTag(img.name) : undefined;
      const mdesc: Descriptor = {
        ...dist.manifest,
        ...(tag ? { annotations: { 'io.containerd.image.name': tag, 'org.opencontainers.image.ref.name': tag.slice(tag.lastIndexOf(':') + 1) } } : {}),
      };
      tar.file(blobName(dist.config.digest), dist.configText);
      tar.file(blobName(mdesc.digest), dist.manifestText);
      tar.file('oci-layout', '{"imageLayoutVersion":"1.0.0"}');
      tar.file('index.json', JSON.stringify({ schemaVersion: 2, mediaType: MT.ociIndex, manifests: [mdesc] }));
      tar.file('manifest.json', JSON.stringify([{
        Config: blobName(dist.config.digest),
        RepoTags: tag ? [tag] : [],
        Layers: layers.map((l) => blobName(l.digest)),
      }]));
      tar.end();
      closed = true;
      closeSync(fd);
      chmodSync(tmp, 0o666 & ~process.umask());
      renameSync(tmp, out);
      return mdesc.digest;
    } catch (err) {
      if (!closed) closeSync(fd);
      rmSync(tmp, { force: true });
      throw err;
    }
  } catch (err) {
    throw withContext(`exporting ${ref} to ${output}`, err);
  }
}
