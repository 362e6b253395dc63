/**
 * Gzip for a push, on every core: pigz (Debian's pigz package) when it is on
 * PATH, else node's zlib (one core).  Only a push compresses: an export
 * writes layers uncompressed, so it never comes here.  `pigz -n` stores no
 * name or time stamp, so the same tar gives the same blob (and pigz's output
 * does not depend on its thread count).  Level 4, not 6: on a Debian
 * rootfs it takes about two thirds of level 6's CPU for a blob 2% bigger
 * (and smaller than skopeo's default), and a push is mostly this.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants as C } from 'node:fs';
import { join } from 'node:path';
import type { Duplex, Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { MincError } from '../../errors.js';

export const GZIP_LEVEL = 4;

/** The pigz on PATH, or null. */
export function findPigz(path = process.env.PATH ?? '/usr/bin:/bin'): string | null {
  for (const dir of path.split(':')) {
    if (!dir.startsWith('/')) continue; // a relative PATH entry would run whatever the cwd holds
    const p = join(dir, 'pigz');
    try {
      accessSync(p, C.X_OK);
      return p;
    } catch { /* next */ }
  }
  return null;
}

type Chain = [Readable, ...Duplex[]];
type Sink = [...Duplex[], Writable];

/**
 * What flows out of the chain src (a readable, then pass-throughs) gzipped
 * into the chain dst (pass-throughs, then a writable).  pigz: the pigz to
 * run (default: found on PATH), null for node's zlib.
 */
export async function gzipTo(src: Chain, dst: Sink, pigz: string | null = findPigz()): Promise<void> {
  const chain = (...s: (Readable | Duplex | Writable)[]): Promise<void> => (pipeline as (...a: unknown[]) => Promise<void>)(...s);
  if (!pigz) {
    await chain(...src, createGzip({ level: GZIP_LEVEL, chunkSize: 256 * 1024 }), ...dst);
    return;
  }
  const child = spawn(pigz, ['-c', '-n', `-${GZIP_LEVEL}`], { stdio: ['pipe', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d: Buffer) => {
    if (err.length < 4096) err += d.toString();
  });
  const exited = new Promise<void>((res, rej) => {
    child.on('error', (e) => rej(new MincError(`pigz: ${e.message}`, { cause: e })));
    child.on('close', (code, sig) => {
      if (code === 0) res();
      else rej(new MincError(`pigz: ${err.split('\n')[0]?.trim() || (sig ? `killed by ${sig}` : `status ${code}`)}`));
    });
  });
  const into = chain(...src, child.stdin);
  const out = chain(child.stdout, ...dst);
  try {
    await Promise.all([into, out, exited]);
  } catch (e) {
    child.kill('SIGKILL');
    await Promise.allSettled([into, out, exited]);
    throw e;
  }
}
