/**
 * Gzip for a push.  Only a push compresses: an export writes layers
 * uncompressed, so it never comes here.  The tool, the first found on PATH:
 *  - igzip (Debian's isal package, Intel's ISA-L), level 2: on the bench's
 *    Debian image (372 MB of tar) 0.7 s of one core against pigz -4's 3.5 s
 *    user + 2 s system over two, for 163 MB against 153 MB (skopeo's: 157);
 *    level 3 took twice level 2's CPU for a blob 1.2% smaller, level 1 the
 *    same CPU for one 0.4% bigger.  A first push is mostly this, and two
 *    cores are few.  One thread (Debian's build has none more), beside
 *    marten packing the tar.
 *  - pigz (every core), level 4: about two thirds of level 6's CPU for a blob
 *    2% bigger.  Blocks of 1 MiB (-b 1024), not 128 KiB: the same ratio
 *    (each block is primed with the last 32 KiB of the one before), an eighth
 *    of the hand-offs between its threads (each a wake-up on the other core:
 *    pigz's system time was half what it was).
 *  - else node's zlib (one core), level 4.
 * All three write standard gzip (RFC 1952) with no name or time stamp (-n),
 * so the same tar gives the same blob with the same tool (pigz's output does
 * not depend on its thread count).
 */
import { spawn } from 'node:child_process';
import { accessSync, constants as C } from 'node:fs';
import { basename, join } from 'node:path';
import type { Duplex, Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { MincError } from '../../errors.js';

export const GZIP_LEVEL = 4;
export const IGZIP_LEVEL = 2;
/** pigz's block size, KiB */
export const PIGZ_BLOCK_KIB = 1024;

/** A gzip program: stdin gzipped to stdout. */
export interface Gzipper {
  path: string;
  args: readonly string[];
}

/** The executable name on PATH, or null. */
export function findOnPath(name: string, path = process.env.PATH ?? '/usr/bin:/bin'): string | null {
  for (const dir of path.split(':')) {
    if (!dir.startsWith('/')) continue; // a relative PATH entry would run whatever the cwd holds
    const p = join(dir, name);
    try {
      accessSync(p, C.X_OK);
      return p;
    } catch { /* next */ }
  }
  return null;
}

/** The pigz on PATH, or null. */
export const findPigz = (path?: string): string | null => findOnPath('pigz', path);

export const pigzAt = (path: string): Gzipper => ({ path, args: ['-c', '-n', `-${GZIP_LEVEL}`, '-b', String(PIGZ_BLOCK_KIB)] });
export const igzipAt = (path: string): Gzipper => ({ path, args: ['-c', '-n', `-${IGZIP_LEVEL}`] });

/** The gzip program a push uses: igzip, else pigz, else null (node's zlib). */
export function findGzipper(path?: string): Gzipper | null {
  const igzip = findOnPath('igzip', path);
  if (igzip) return igzipAt(igzip);
  const pigz = findPigz(path);
  return pigz ? pigzAt(pigz) : null;
}

type Chain = [Readable, ...Duplex[]];
type Sink = [...Duplex[], Writable];

/**
 * What flows out of the chain src (a readable, then pass-throughs) gzipped
 * into the chain dst (pass-throughs, then a writable).  tool: the program
 * to run (default: findGzipper()), null for node's zlib.
 */
export async function gzipTo(src: Chain, dst: Sink, tool: Gzipper | null = findGzipper()): Promise<void> {
  const chain = (...s: (Readable | Duplex | Writable)[]): Promise<void> => (pipeline as (...a: unknown[]) => Promise<void>)(...s);
  if (!tool) {
    await chain(...src, createGzip({ level: GZIP_LEVEL, chunkSize: 256 * 1024 }), ...dst);
    return;
  }
  const name = basename(tool.path);
  const child = spawn(tool.path, tool.args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d: Buffer) => {
    if (err.length < 4096) err += d.toString();
  });
  const exited = new Promise<void>((res, rej) => {
    child.on('error', (e) => rej(new MincError(`${name}: ${e.message}`, { cause: e })));
    child.on('close', (code, sig) => {
      if (code === 0) res();
      else rej(new MincError(`${name}: ${err.split('\n')[0]?.trim() || (sig ? `killed by ${sig}` : `status ${code}`)}`));
    });
  });
  const into = chain(...src, child.stdin);
  const out = chain(child.stdout, ...dst);
  try {
    await Promise.all([into, out, exited]);
  } catch (e) {
    // a program that stopped reading: its own exit says why, the EPIPE of its input is the echo
    let timer: NodeJS.Timeout | undefined;
    const why = (e as NodeJS.ErrnoException).code === 'EPIPE'
      ? await Promise.race([exited.then(() => null, (x: unknown) => x), new Promise<null>((res) => { timer = setTimeout(res, 3000, null); })])
      : null;
    clearTimeout(timer);
    child.kill('SIGKILL');
    await Promise.allSettled([into, out, exited]);
    throw why ?? e;
  }
}
