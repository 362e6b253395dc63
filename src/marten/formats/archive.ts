/**
 * An image archive (docker save, either form, or an OCI image layout) read
 * into staging: the outer tar unpacked safely (outer.ts), then parsed, and
 * refused unless its config lists a DiffID for each layer.  Every failure is
 * a MincError (the fuzz test holds it to that).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { MincError } from '../../errors.js';
import type { ArchiveImage } from '../importer.js';
import { readDockerArchive } from './dockerarchive.js';
import { readOciLayout } from './ocilayout.js';
import { unpackOuter } from './outer.js';

export async function readArchive(fd: number, dir: string): Promise<ArchiveImage> {
  await unpackOuter(fd, dir);
  let image: ArchiveImage;
  if (existsSync(join(dir, 'oci-layout'))) image = readOciLayout(dir);
  else if (existsSync(join(dir, 'manifest.json')) || existsSync(join(dir, 'repositories'))) image = readDockerArchive(dir);
  else throw new MincError('neither a docker save tarball (manifest.json, repositories) nor an OCI image layout (oci-layout)');
  // every layer is checked against the config's DiffIDs: an archive without them cannot be trusted
  const expected = image.config.rootfs?.diff_ids;
  if (!expected || expected.length === 0) throw new MincError('the image config lists no DiffIDs (rootfs.diff_ids): its layers cannot be checked');
  if (expected.length !== image.layers.length) {
    throw new MincError(`the config lists ${expected.length} layers (rootfs.diff_ids), the archive has ${image.layers.length}`);
  }
  return image;
}
