/**
 * marten export IMAGE -o FILE: one tarball that is both a docker-archive
 * (manifest.json, as `docker save` writes) and an OCI image layout
 * (oci-layout, index.json, blobs/), the layers uncompressed so the same blob
 * serves both (Docker 25's layout).  `podman load`, `docker load` and
 * skopeo (docker-archive: and oci-archive:) read it.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, createReadStream, createWriteStream, renameSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import tarStream from 'tar-stream';
import { withContext } from '../errors.js';
import { distImage, uncompressedLayer } from './dist.js';
import { resolveImage } from './model.js';
import { MT, sha256, type Descriptor } from './oci.js';
import type { Store } from './store.js';
import { withStaging } from './txn.js';

/** The docker-style reference a name stands for (busybox -> busybox:latest). */
export const repoTag = (name: string): string => (/:[^/]+$/.test(name) || name.includes('@') ? name : `${name}:latest`);

export async function exportImage(store: Store, ref: string, output: string): Promise<string> {
  const img = resolveImage(store, ref);
  const out = resolve(output);
  try {
    return await withStaging(store, async (staging) => {
      const dist = await distImage(store, img.id);
      const layers: { digest: string; file: string; size: number }[] = [];
      for (const [i, l] of dist.layers.entries()) {
        const file = join(staging, `layer${i}.tar`);
        await uncompressedLayer(store, l, file);
        layers.push({ digest: l.diffId, file, size: statSync(file).size });
      }
      const hex = (d: string): string => d.slice('sha256:'.length);
      const manifest = {
        schemaVersion: 2,
        mediaType: MT.ociManifest,
        config: dist.config,
        layers: layers.map((l): Descriptor => ({ mediaType: MT.ociLayer, digest: l.digest, size: l.size })),
      };
      const manifestText = JSON.stringify(manifest);
      const tag = img.name ? repoTag(img.name) : undefined;
      const mdesc: Descriptor = {
        mediaType: MT.ociManifest, digest: sha256(manifestText), size: Buffer.byteLength(manifestText),
        ...(tag ? { annotations: { 'io.containerd.image.name': tag, 'org.opencontainers.image.ref.name': tag.slice(tag.lastIndexOf(':') + 1) } } : {}),
      };
      const index = { schemaVersion: 2, mediaType: MT.ociIndex, manifests: [mdesc] };
      const saveManifest = [{
        Config: `blobs/sha256/${hex(dist.config.digest)}`,
        RepoTags: tag ? [tag] : [],
        Layers: layers.map((l) => `blobs/sha256/${hex(l.digest)}`),
      }];
      // a random name made with O_EXCL (never through a link someone planted at a name they could guess), 0600 until complete
      const tmp = join(dirname(out), `.${basename(out)}.marten-${randomBytes(12).toString('hex')}`);
      const pack = tarStream.pack();
      const written = pipeline(pack, createWriteStream(tmp, { flags: 'wx', mode: 0o600 }));
      const add = (name: string, body: string): Promise<void> =>
        new Promise((res, rej) => pack.entry({ name, mode: 0o644, mtime: new Date(0) }, body, (e) => (e ? rej(e) : res())));
      try {
        await add('oci-layout', '{"imageLayoutVersion":"1.0.0"}');
        await add('index.json', JSON.stringify(index));
        await add('manifest.json', JSON.stringify(saveManifest));
        for (const d of ['blobs', 'blobs/sha256']) {
          await new Promise<void>((res, rej) => pack.entry({ name: d, type: 'directory', mode: 0o755, mtime: new Date(0) }, (e) => (e ? rej(e) : res())));
        }
        await add(`blobs/sha256/${hex(dist.config.digest)}`, dist.configText);
        await add(`blobs/sha256/${hex(mdesc.digest)}`, manifestText);
        for (const l of layers) {
          await new Promise<void>((res, rej) => {
            const e = pack.entry({ name: `blobs/sha256/${hex(l.digest)}`, size: l.size, mode: 0o644, mtime: new Date(0) }, (err) => (err ? rej(err) : res()));
            pipeline(createReadStream(l.file), e).catch(rej);
          });
        }
        pack.finalize();
        await written;
        chmodSync(tmp, 0o666 & ~process.umask());
        renameSync(tmp, out);
      } catch (err) {
        pack.destroy();
        rmSync(tmp, { force: true });
        throw err;
      }
      return mdesc.digest;
    });
  } catch (err) {
    throw withContext(`exporting ${ref} to ${output}`, err);
  }
}
