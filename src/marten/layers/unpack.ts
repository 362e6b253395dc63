/**
 * Unpacking a layer file with no byte of it passing through node: one sh
 * pipeline  DECOMPRESS < FILE | tee FIFO | tar -x -C DEST  with sha256sum
 * reading FIFO (the DiffID), plus sha256sum FILE when its digest is to be
 * checked: processes of their own, so the work spreads over the cores while
 * node goes on downloading.  Then OCI whiteouts become overlayfs ones.
 */
import { mkdir } from 'node:fs/promises';
import { MincError, withContext } from '../../errors.js';
import { shQuote } from '../../plan/render.js';
import { run } from '../proc.js';
import { convertWhiteouts, type Compression } from './extract.js';

export const TAR_EXTRACT = ['-x', '--ignore-zeros', '-f', '-', '--numeric-owner', '--same-permissions', '--same-owner',
  '--xattrs', '--xattrs-include=security.capability', '--xattrs-include=user.*'];

const DECOMPRESS: Record<Compression, string> = { gzip: 'gzip -dc', zstd: 'zstd -dcq', none: 'cat' };

/** Unpack FILE (compressed as kind) into dest; resolves to its DiffID (and checks the file's digest if asked). */
export async function unpackFile(file: string, kind: Compression, dest: string, expectDigest?: string): Promise<string> {
  await mkdir(dest, { recursive: true });
  const fifo = `${dest}.diffid`;
  const script = [
    'set -e',
    `mkfifo -m 600 ${shQuote(fifo)}`,
    `sha256sum < ${shQuote(fifo)} & sum=$!`,
    `${DECOMPRESS[kind]} < ${shQuote(file)} | tee ${shQuote(fifo)} | tar ${TAR_EXTRACT.map(shQuote).join(' ')} -C ${shQuote(dest)}`,
    'wait $sum',
    `rm -f ${shQuote(fifo)}`,
  ].join('\n');
  const [diff, packed] = await Promise.all([
    run('sh', ['-c', script]).catch((e: unknown) => {
      throw withContext('unpacking', e);
    }),
    expectDigest ? run('sha256sum', [file]) : null,
  ]);
  if (packed) {
    const got = `sha256:${packed.stdout.toString().split(' ')[0]}`;
    if (got !== expectDigest) throw new MincError(`digest mismatch: expected ${expectDigest}, got ${got}`);
  }
  await convertWhiteouts(dest);
  return `sha256:${diff.stdout.toString().split(' ')[0]}`;
}
