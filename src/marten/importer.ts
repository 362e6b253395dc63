/**
 * marten import DIR|TARBALL: a rootfs directory (copied as one layer), a
 * `docker save` tarball (manifest.json form, or the legacy repositories +
 * <id>/layer.tar form) or an OCI image-layout tarball.
 */
import { closeSync, lstatSync, mkdirSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { run } from './proc.js';
import { MincError, withContext } from '../errors.js';
import { installImage, checkName, setImageName, type StagedLayer } from './install.js';
import { untarLayerFile } from './layers/extract.js';
import { defaultConfig, type ImageConfig } from './oci.js';
import { ownLayerInfo } from './model.js';
import { readArchive } from './formats/archive.js';
import { openRegular } from './formats/outer.js';
import type { Store } from './store.js';
import { moveIntoPlace, randomId, withLock, withStaging } from './txn.js';
import { mapLimit } from './util.js';

/** What a tarball holds, once unpacked in staging: its layer files bottom first, config, name. */
export interface ArchiveImage {
  layers: { file: string; mediaType?: string; digest?: string }[];
  config: ImageConfig;
  name?: string;
}

/** The name MINCS gives an image: the last path component, with the tag unless it is latest. */
export function shortName(ref: string): string {
  const at = ref.indexOf('@');
  const base = at >= 0 ? ref.slice(0, at) : ref;
  const slash = base.lastIndexOf('/');
  const last = base.slice(slash + 1);
  const name = last.replace(/:latest$/, '');
  return at >= 0 && !last.includes(':') ? `${name}@${ref.slice(at + 1)}` : name;
}

/** The name an archive gives its image, kept whole (a full reference names it, as pull's); one marten cannot use is dropped. */
function archiveName(name: string | undefined): string | undefined {
  if (!name) return undefined;
  for (const n of [name, shortName(name)]) {
    try {
      return checkName(n);
    } catch {
      /* the next, else none */
    }
  }
  return undefined;
}

export async function importPath(store: Store, path: string, opts: { name?: string } = {}): Promise<string> {
  if (opts.name) checkName(opts.name);
  let st;
  try {
    st = statSync(path);
  } catch {
    throw new MincError(`importing ${path}: no such file or directory`);
  }
  if (st.isDirectory()) {
    // `skopeo copy ... oci:DIR:tag` makes such a dir: an image, not a rootfs whose / holds blobs/
    const layout = lstatSync(join(path, 'oci-layout'), { throwIfNoEntry: false })?.isFile();
    return layout ? importLayoutDir(store, resolve(path), opts.name) : importDir(store, resolve(path), opts.name);
  }
  try {
    // a fifo or a device would be read forever (or hang): a regular file only, read through this fd
    const fd = openRegular(path); // importTarball's to close (its read stream does)
    // a polecat bundle (tgz with /.polecat.json, or squashfs): formats/bundle.ts
    const { bundleKind, importBundle } = await import('./formats/bundle.js');
    const kind = await bundleKind(resolve(path));
    if (kind) {
      closeSync(fd);
      return await importBundle(store, resolve(path), kind, opts.name);
    }
    if (await isPlainTarball(`/proc/${process.pid}/fd/${fd}`)) {
      closeSync(fd);
      return await importRootfsTarball(store, realpathSync(path), opts.name);
    }
    return await importTarball(store, fd, opts.name);
  } catch (err) {
    throw withContext(`importing ${path}`, err);
  }
}

/**
 * An OCI image layout directory: tarred into the store's tmp/ and read as a
 * layout tarball is, through the same checks (no symlink member, bounded JSON,
 * DiffIDs), rather than trusting its files in place.
 */
async function importLayoutDir(store: Store, dir: string, name?: string): Promise<string> {
  store.ensure();
  const tarball = join(store.tmp, `${process.pid}-layout-${randomId().slice(0, 12)}.tar`);
  try {
    await run('tar', ['-C', dir, '-cf', tarball, '.']);
    return await importTarball(store, openRegular(tarball), name);
  } catch (err) {
    throw withContext(`importing ${dir}`, err);
  } finally {
    rmSync(tarball, { force: true });
  }
}

/** A tarball that tar reads and that has no member of an image archive (oci-layout, manifest.json, repositories) at its top. */
async function isPlainTarball(path: string): Promise<boolean> {
  const r = await run('tar', ['-tf', path], false);
  if (r.status !== 0) return false;
  const names = r.stdout.toString('latin1').split('\n').map((n) => n.replace(/^(\.\/)+/, ''));
  return !names.some((n) => n === 'oci-layout' || n === 'manifest.json' || n === 'repositories');
}

/** A plain rootfs tarball (as `podman import`): one layer, unpacked as a pulled layer is (no link followed out, whiteouts kept). */
async function importRootfsTarball(store: Store, file: string, name?: string): Promise<string> {
  return withStaging(store, async (staging) => {
    const root = join(staging, 'layer0');
    let diffId: string;
    try {
      diffId = await untarLayerFile(file, root);
    } catch (err) {
      throw withContext(`importing ${file} as a rootfs tarball`, err);
    }
    return installImage(store, staging, [{ root, info: { diffId } }], defaultConfig(), name);
  });
}

/** A directory becomes one layer, copied as cp -a does. */
async function importDir(store: Store, dir: string, name?: string): Promise<string> {
  return withStaging(store, async (staging) => {
    const id = randomId();
    const img = join(staging, id);
    mkdirSync(img);
    try {
      await run('cp', ['-a', '--reflink=auto', '--', `${dir}/.`, join(img, 'root')]);
    } catch (err) {
      throw withContext(`importing ${dir}: copying`, err);
    }
    writeFileSync(join(img, 'layer.json'), `${JSON.stringify(ownLayerInfo())}\n`);
    writeFileSync(join(img, 'config.json'), JSON.stringify(defaultConfig()));
    return withLock(store, () => {
      moveIntoPlace(img, store.image(id));
      if (name) setImageName(store, id, name);
      return id;
    });
  });
}

async function importTarball(store: Store, fd: number, name?: string): Promise<string> {
  let owned = true;
  return withStaging(store, async (staging) => {
    owned = false;
    const outer = join(staging, 'archive');
    mkdirSync(outer);
    const image = await readArchive(fd, outer);
    const expected = image.config.rootfs!.diff_ids;
    const layers = await mapLimit(image.layers, 2, async (l, i): Promise<StagedLayer> => {
      const root = join(staging, `layer${i}`);
      let diffId: string;
      try {
        diffId = await untarLayerFile(l.file, root, l.mediaType, l.digest);
      } catch (err) {
        throw withContext(`layer ${i + 1} (${l.file.slice(outer.length + 1)})`, err);
      }
      const want = expected[i];
      if (want !== diffId) throw new MincError(`layer ${i + 1}: its DiffID is ${diffId}, the config says ${want}`);
      return { root, info: { diffId, ...(l.mediaType ? { mediaType: l.mediaType } : {}) } };
    });
    return installImage(store, staging, layers, image.config, name ?? archiveName(image.name));
  }).finally(() => {
    if (owned) closeSync(fd); // staging could not be made: the fd never reached its stream
  });
}
