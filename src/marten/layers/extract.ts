/**
 * Unpacking an OCI/Docker layer tar into a directory (GNU tar does the
 * unpacking), then turning OCI whiteouts into overlayfs ones:
 *   .wh.NAME      -> NAME as a character device 0/0
 *   .wh..wh..opq  -> the directory gets trusted.overlay.opaque=y
 * The uncompressed stream is hashed on the way: its DiffID.
 */
import { spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { PassThrough, Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { execa } from 'execa';
import { MincError, withContext } from '../../errors.js';
import { shQuote } from '../../plan/render.js';
import { Hasher } from './hasher.js';

export type Compression = 'gzip' | 'zstd' | 'none';

export function compressionOf(mediaType: string | undefined, head?: Buffer): Compression {
  if (head && head.length >= 4) {
    if (head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
    if (head.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
    return 'none';
  }
  if (mediaType?.endsWith('gzip')) return 'gzip';
  if (mediaType?.endsWith('zstd')) return 'zstd';
  return 'none';
}

function decompressor(kind: Compression): { stream: Transform; done: Promise<void> } {
  if (kind === 'gzip') return { stream: createGunzip({ chunkSize: 256 * 1024 }), done: Promise.resolve() };
  if (kind === 'none') return { stream: new PassThrough(), done: Promise.resolve() };
  // zstd: node 20 has none; the zstd tool does it
  const p = spawn('zstd', ['-dcq'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let err = '';
  p.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const done = new Promise<void>((resolve, reject) => {
    p.on('error', (e) => reject(withContext('zstd (install the zstd package for zstd layers)', e)));
    p.on('close', (code) => (code === 0 ? resolve() : reject(new MincError(`zstd: ${err.trim() || `status ${code}`}`))));
  });
  const t = new Transform({
    transform(chunk, _e, cb) {
      if (!p.stdin.write(chunk)) p.stdin.once('drain', () => cb());
      else cb();
    },
    flush(cb) {
      p.stdin.end();
      p.stdout.on('end', () => cb());
    },
  });
  p.stdout.on('data', (d: Buffer) => t.push(d));
  return { stream: t, done };
}

/** Untar a (compressed) layer stream into dest; resolves to its DiffID. */
export interface Untarred {
  /** sha256 of the uncompressed tar */
  diffId: string;
  /** sha256 and size of the stream as given (compressed) */
  digest: string;
  size: number;
}

/** Untar a (compressed) layer stream into dest; checks its digest if expectDigest is given. */
export async function untarLayer(source: Readable, kind: Compression, dest: string, expectDigest?: string): Promise<Untarred> {
  await mkdir(dest, { recursive: true });
  // --ignore-zeros: read to the end (the stream is hashed whole), not stop at the end-of-archive blocks
  const tar = spawn('tar', ['-x', '--ignore-zeros', '-f', '-', '-C', dest, '--numeric-owner', '--same-permissions', '--same-owner',
    '--xattrs', '--xattrs-include=security.capability', '--xattrs-include=user.*'], { stdio: ['pipe', 'ignore', 'pipe'] });
  let err = '';
  tar.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<void>((resolve, reject) => {
    tar.on('error', (e) => reject(withContext('starting tar', e)));
    tar.on('close', (code) => (code === 0 ? resolve() : reject(new MincError(`tar: ${err.trim().split('\n')[0] ?? `status ${code}`}`))));
  });
  const hasher = new Hasher();
  const packed = new Hasher();
  const d = decompressor(kind);
  try {
    await Promise.all([pipeline(source, packed, d.stream, hasher, tar.stdin), exited, d.done]);
  } catch (e) {
    tar.kill();
    throw e;
  }
  const digest = packed.digest();
  if (expectDigest && digest !== expectDigest) throw new MincError(`digest mismatch: expected ${expectDigest}, got ${digest}`);
  await convertWhiteouts(dest);
  return { diffId: hasher.digest(), digest, size: packed.bytes };
}

export async function untarLayerFile(file: string, dest: string, mediaType?: string, expectDigest?: string): Promise<Untarred> {
  const fd = createReadStream(file, { start: 0, end: 3 });
  const head: Buffer[] = [];
  for await (const c of fd) head.push(c as Buffer);
  const kind = compressionOf(mediaType, Buffer.concat(head));
  return untarLayer(createReadStream(file, { highWaterMark: 1024 * 1024 }), kind, dest, expectDigest);
}

/** OCI whiteouts found under dir -> overlayfs whiteouts (one find, one sh). */
export async function convertWhiteouts(dir: string): Promise<number> {
  const found = await execa('find', [dir, '-name', '.wh.*', '-print0'], { encoding: 'buffer' });
  const paths = Buffer.from(found.stdout as Uint8Array).toString('utf8').split('\0').filter(Boolean);
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
  for (const o of opaque) lines.push(`setfattr -n trusted.overlay.opaque -v y -- ${shQuote(o)}`);
  try {
    await execa('sh', ['-e', '-c', lines.join('\n')]);
  } catch (e) {
    throw withContext('turning OCI whiteouts into overlayfs whiteouts (setfattr is in the attr package)',
      new MincError((e as { stderr?: string }).stderr?.trim() || String(e)));
  }
  return paths.length;
}
