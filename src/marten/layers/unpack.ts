/**
 * Unpacking a layer file: node reads it, hashes it (its digest, if asked),
 * gunzips it (zlib, on libuv's thread pool) and hashes the tar stream (the
 * DiffID) on the way into GNU tar's stdin; tar writes the files (C, its own
 * process, so the work spreads over the cores).  zstd layers go through
 * `zstd -dc` instead.  Then OCI whiteouts become overlayfs ones.
 */
import { spawn } from 'node:child_process';
import { closeSync, createReadStream, statfsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { PassThrough, Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { MincError, withContext } from '../../errors.js';
import { convertWhiteouts, type Compression, type UnpackOptions } from './extract.js';
import { Hasher } from './hasher.js';
import { toolError } from '../proc.js';
import { hostRoot } from '../store.js';
import { FOREIGN_OVERLAY_XATTRS, ownNs } from './xattrns.js';

/**
 * GNU tar's extraction: root keeps the layer's owners; a user cannot chown,
 * so its files are the user's own (the rootless run shows them as root's).
 * overlayfs's own xattrs never come in from a layer (xattrns.ts).
 */
export function tarExtract(root = hostRoot()): string[] {
  return ['-x', '--ignore-zeros', '-f', '-', '--numeric-owner', '--same-permissions', root ? '--same-owner' : '--no-same-owner',
    '--xattrs', '--xattrs-include=security.capability', '--xattrs-include=user.*', ...FOREIGN_OVERLAY_XATTRS];
}

/** A child process as a stream stage (stdin -> stdout); its failure names it and its first stderr line. */
export function childStage(cmd: string, args: string[], stdout: 'pipe' | 'ignore', accept?: (stderr: string) => boolean): { proc: ReturnType<typeof spawn>; done: Promise<void>; stderr: () => string } {
  const proc = spawn(cmd, args, { stdio: ['pipe', stdout, 'pipe'] });
  let err = '';
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const done = new Promise<void>((resolve, reject) => {
    proc.on('error', (e) => reject(new MincError(`${cmd}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'not found' : e.message}`)));
    proc.on('close', (code, sig) => {
      if (code === 0 || (code !== null && accept?.(err))) resolve();
      else reject(new MincError(`${cmd}: ${toolError(cmd, err) ?? (sig ? `killed by ${sig}` : `status ${code}`)}`));
    });
  });
  return { proc, done, stderr: () => err };
}

/** GNU tar's complaint about a device node a user may not make. */
const MKNOD = /^tar: (.*): Cannot mknod: Operation not permitted$/;

/** The device nodes tar could not make, when that is all it complained of (a user's unpack); else null. */
export function skippedDevices(stderr: string): string[] | null {
  const lines = stderr.split('\n').filter(Boolean);
  const nodes = lines.flatMap((l) => MKNOD.exec(l)?.slice(1, 2) ?? []);
  const rest = lines.filter((l) => !MKNOD.test(l) && l !== 'tar: Exiting with failure status due to previous errors');
  return nodes.length > 0 && rest.length === 0 ? nodes : null;
}

/** The default bound of a layer's uncompressed size (--max-layer-size): a gzip bomb stops there. */
export const DEFAULT_MAX_LAYER = 32 * 2 ** 30;

/** Passes at most max bytes; one more is an error (a gzip bomb is stopped, not unpacked). */
function limit(max: number, shown: string): Transform {
  let n = 0;
  return new Transform({
    highWaterMark: 1 << 20,
    transform(chunk: Buffer, _e, cb) {
      n += chunk.length;
      if (n > max) cb(new MincError(`the layer is larger than ${shown} uncompressed (--max-layer-size): stopped`));
      else cb(null, chunk);
    },
  });
}

/** The file system of dir is (nearly) full. */
function full(dir: string): boolean {
  try {
    const s = statfsSync(dir);
    return s.bavail * s.bsize < 1 << 20;
  } catch {
    return false;
  }
}

/** Unpack FILE (compressed as kind) into dest; resolves to its DiffID (and checks the file's digest if asked). */
export async function unpackFile(file: number, kind: Compression, dest: string, expectDigest?: string, opts: UnpackOptions = {}): Promise<string> {
  // file is an fd this function owns: its read stream closes it
  try {
    await mkdir(dest, { recursive: true });
  } catch (err) {
    closeSync(file);
    throw err;
  }
  // the file's own digest only when asked (a pulled blob was checked as it came)
  const packed = expectDigest ? new Hasher() : new PassThrough({ highWaterMark: 1 << 20 });
  const diff = new Hasher();
  const max = opts.maxSize ?? DEFAULT_MAX_LAYER;
  const bound = limit(max, opts.maxSizeText ?? `${max} bytes`);
  // a user's tar cannot make device nodes: they are skipped (said once a layer below), not an error
  const user = !hostRoot();
  const tar = childStage('tar', [...tarExtract(!user), '-C', dest], 'ignore', user ? (e) => skippedDevices(e) !== null : undefined);
  let zstd: ReturnType<typeof childStage> | null = null;
  const feed: Promise<unknown>[] = [];
  if (kind === 'zstd') {
    zstd = childStage('zstd', ['-dcq'], 'pipe');
    feed.push(pipeline(createReadStream('', { fd: file, start: 0, highWaterMark: 1 << 20 }), packed, zstd.proc.stdin!));
    feed.push(pipeline(zstd.proc.stdout as Readable, bound, diff, tar.proc.stdin!));
  } else {
    feed.push(pipeline(createReadStream('', { fd: file, start: 0, highWaterMark: 1 << 20 }), packed, kind === 'gzip' ? createGunzip() : new PassThrough(), bound, diff, tar.proc.stdin!));
  }
  const results = await Promise.allSettled([...feed, zstd?.done, tar.done]);
  // a broken stream (bad gzip) says more than tar's "unexpected EOF"; a tar that failed says more than the EPIPE it caused
  const errs = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as Error & { code?: string }] : []));
  const bad = errs.find((e) => !['EPIPE', 'ERR_STREAM_PREMATURE_CLOSE', 'ERR_STREAM_DESTROYED'].includes(e.code ?? '') && !(e instanceof MincError)) ?? errs.find((e) => e instanceof MincError) ?? errs[0];
  if (bad) {
    // the limit stops the feed first; tar's complaint about the cut archive says less
    const stopped = errs.find((e) => e instanceof MincError && /--max-layer-size/.test(e.message));
    if (stopped) throw stopped;
    if ((bad as { code?: string }).code === 'ENOSPC' || (/Wrote only \d+ of \d+ bytes/.test(bad.message) && full(dest))) {
      // GNU tar reports the short write of a full disk as "Wrote only N of M bytes"
      throw new MincError(`unpacking into ${dest}: no space left on device (${bad.message.replace(/^tar: /, '').replace(/: Wrote only.*$/, '')})`);
    }
    throw withContext('unpacking', bad);
  }
  // (digest() once: a hash object gives its digest only once)
  const got = expectDigest && packed instanceof Hasher ? packed.digest() : expectDigest;
  if (got !== expectDigest) throw new MincError(`layer ${expectDigest}: digest mismatch (got ${got}): the image is corrupt; pull or export it again`);
  await convertWhiteouts(dest, ownNs());
  const diffId = diff.digest();
  const skipped = user ? skippedDevices(tar.stderr()) : null;
  if (skipped) {
    const shown = skipped.slice(0, 3).map((n) => n.replace(/^\.\//, '/')).join(', ');
    process.stderr.write(`marten: layer ${diffId.slice(0, 19)}: ${skipped.length} device node${skipped.length > 1 ? 's' : ''} skipped (a user cannot make them): ${shown}${skipped.length > 3 ? ', ...' : ''}\n`);
  }
  return diffId;
}
