/**
 * marten import of a polecat bundle: a gzip tarball of a root with
 * /.polecat.json (`polecat -f tgz`) or a bare squashfs image (`polecat -f
 * squashfs`).  The root becomes one layer; the bundle's command becomes the
 * image's Cmd.  The file is anyone's: the tarball is unpacked as a layer is
 * (layers/unpack.ts), the squashfs by unsquashfs (which refuses names with
 * '/' or '..'), and .polecat.json is read bounded, without following a link,
 * and shape-checked.
 */
import { closeSync, mkdirSync, openSync, readSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MincError, withContext } from '../../errors.js';
import { readNoFollow } from '../../fs/nofollow.js';
import { setImageName } from '../install.js';
import { untarLayerFile } from '../layers/extract.js';
import { defaultConfig } from '../oci.js';
import { run } from '../proc.js';
import type { Store } from '../store.js';
import { moveIntoPlace, randomId, withLock, withStaging } from '../txn.js';

export type BundleKind = 'squashfs' | 'tgz';

/** A squashfs image, or a gzip tarball holding ./.polecat.json; null for anything else (left to the other importers). */
export async function bundleKind(file: string): Promise<BundleKind | null> {
  const head = Buffer.alloc(4);
  const fd = openSync(file, 'r');
  try {
    readSync(fd, head, 0, 4, 0);
  } finally {
    closeSync(fd);
  }
  if (head.toString('latin1') === 'hsqs') return 'squashfs';
  if (head[0] !== 0x1f || head[1] !== 0x8b) return null;
  const listed = await run('tar', ['-tzf', file, './.polecat.json'], false);
  return listed.status === 0 ? 'tgz' : null;
}

/** The command .polecat.json gives, if any and well formed. */
export function bundleCommand(text: Buffer | null): string[] | undefined {
  if (!text) return undefined;
  let j: unknown;
  try {
    j = JSON.parse(text.toString('utf8'));
  } catch {
    throw new MincError('.polecat.json is not JSON');
  }
  const cmd = (j as { command?: unknown } | null)?.command;
  if (cmd === undefined) return undefined;
  if (!Array.isArray(cmd) || !cmd.every((w) => typeof w === 'string' && !w.includes('\0')) || cmd.length > 4096) {
    throw new MincError('.polecat.json: command: expected an array of strings');
  }
  return cmd.length > 0 ? (cmd as string[]) : undefined;
}

export async function importBundle(store: Store, file: string, kind: BundleKind, name?: string): Promise<string> {
  return withStaging(store, async (staging) => {
    const id = randomId();
    const img = join(staging, id);
    mkdirSync(img);
    const root = join(img, 'root');
    try {
      if (kind === 'squashfs') await run('unsquashfs', ['-no-progress', '-quiet', '-d', root, file]);
      else {
        mkdirSync(root);
        await untarLayerFile(file, root);
      }
    } catch (err) {
      throw withContext(`unpacking the ${kind} bundle`, err);
    }
    const config = defaultConfig();
    const cmd = bundleCommand(readNoFollow(join(root, '.polecat.json'), 65536));
    if (cmd) config.config = { ...config.config, Cmd: cmd };
    writeFileSync(join(img, 'layer.json'), '{}\n');
    writeFileSync(join(img, 'config.json'), JSON.stringify(config));
    return withLock(store, () => {
      moveIntoPlace(img, store.image(id));
      if (name) setImageName(store, id, name);
      return id;
    });
  });
}
