/**
 * Unpacking an OCI/Docker layer file into a directory (unpack.ts: GNU tar
 * and friends do it), then turning OCI whiteouts into overlayfs ones:
 *   .wh.NAME      -> NAME as a character device 0/0
 *   .wh..wh..opq  -> the directory gets trusted.overlay.opaque=y (a user's
 *                    layer: user.overlay.opaque=y, xattrns.ts)
 */
import { closeSync, readSync } from 'node:fs';
import { MincError, withContext } from '../../errors.js';
import { shQuote } from '../../plan/render.js';
import { spawn } from 'node:child_process';
import { run, toolError } from '../proc.js';
import { openRegular } from '../formats/outer.js';
import { opaqueName, type OverlayNs } from './xattrns.js';

export type Compression = 'gzip' | 'zstd' | 'none';

export function compressionOf(mediaType: string | undefined, head?: Buffer): Compression {
  if (head && head.length >= 2) {
    if (head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  }
  if (head && head.length >= 4) {
    if (head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
    if (head.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
    return 'none';
  }
  if (mediaType?.endsWith('gzip')) return 'gzip';
  if (mediaType?.endsWith('zstd')) return 'zstd';
  return 'none';
}

/** Unpack a layer file (its compression told by its first bytes); resolves to its DiffID. */
export async function untarLayerFile(file: string, dest: string, mediaType?: string, expectDigest?: string, opts: UnpackOptions = {}): Promise<string> {
  // a regular file, not through a symlink: never a host file, /dev/zero or a fifo
  const fd = openRegular(file, 'the layer file', false);
  let kind: Compression;
  try {
    const head = Buffer.alloc(4);
    const n = readSync(fd, head, 0, 4, 0);
    kind = compressionOf(mediaType, head.subarray(0, n));
  } catch (err) {
    closeSync(fd);
    throw err;
  }
  const { unpackFile } = await import('./unpack.js');
  return unpackFile(fd, kind, dest, expectDigest, opts);
}

export interface UnpackOptions {
  /** stop when the layer's uncompressed tar passes this many bytes (default 32 GiB) */
  maxSize?: number;
  /** the limit as given (512M), for the message */
  maxSizeText?: string;
}

/**
 * OCI whiteouts found under dir -> overlayfs whiteouts (one find, one sh).
 * Paths stay bytes: find's output is read as latin1 (one char a byte) and
 * the script goes to sh's stdin as latin1 again, never through UTF-8.
 */
export async function convertWhiteouts(dir: string, ns: OverlayNs = 'trusted'): Promise<number> {
  const found = await run('find', [dir, '-name', '.wh.*', '-print0']);
  const paths = found.stdout.toString('latin1').split('\0').filter(Boolean);
  if (paths.length === 0) return 0;
  const lines: string[] = [];
  const opaque: string[] = [];
  for (const p of paths) {
    const slash = p.lastIndexOf('/');
    const parent = p.slice(0, slash);
    const name = p.slice(slash + 1).slice(4);
    lines.push(`rm -rf -- ${shQuote(p)}`);
    if (name === '.wh..opq') opaque.push(parent);
    else if (!name.startsWith('.wh.') && name !== '' && name !== '.' && name !== '..') {
      lines.push(`rm -rf -- ${shQuote(`${parent}/${name}`)}`, `mknod -- ${shQuote(`${parent}/${name}`)} c 0 0`);
    }
  }
  for (const o of opaque) lines.push(`setfattr -n ${opaqueName(ns)} -v y -- ${shQuote(o)}`);
  try {
    await runScript(Buffer.from(`${lines.join('\n')}\n`, 'latin1'));
  } catch (e) {
    throw withContext('turning OCI whiteouts into overlayfs whiteouts (setfattr is in the attr package)', e);
  }
  return paths.length;
}

/** sh -e reading script (bytes) from its stdin. */
export function runScript(script: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn('sh', ['-e', '-s'], { stdio: ['pipe', 'ignore', 'pipe'] });
    let err = '';
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.on('error', (e) => reject(new MincError(`sh: ${e.message}`)));
    p.on('close', (code) => (code === 0 ? resolve() : reject(new MincError(`sh: ${toolError('sh', err) ?? `status ${code}`}`))));
    p.stdin.on('error', () => undefined);
    p.stdin.end(script);
  });
}
