/**
 * Packing a layer directory (overlayfs form: an image root or a container's
 * storage) as an OCI layer tar, overlayfs whiteouts turned back into OCI
 * ones:  char device 0/0 NAME -> .wh.NAME,  an opaque directory
 * (trusted.overlay.opaque=y) -> DIR/.wh..wh..opq.  Names are bytes from
 * readdir to the tar header (tarwriter.ts), never strings.  Either a stream
 * of the plain tar (an export writes it as it comes), or written gzipped to
 * a file for a push (gzip.ts), and to its upload as it comes; resolves to
 * the DiffID (uncompressed) and digest (compressed).
 */
import { closeSync, constants as C, createWriteStream, lstatSync, openSync, readdirSync, readlinkSync } from 'node:fs';
import { Readable, type Duplex, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { run } from '../proc.js';
import { MincError, withContext } from '../../errors.js';
import { gzipTo, type Gzipper } from './gzip.js';
import { Hasher } from './hasher.js';
import { Gather, Tee } from './tee.js';
import { ChunkOut, piecesOut, type TarOut } from './tarout.js';
import { END, encodeHeader, padding, type TarHeader } from './tarwriter.js';
import { ownerMap, type IdMap } from './idmap.js';
import { opaqueName, type OverlayNs } from './xattrns.js';

/** Directories under root marked opaque by one of names (getfattr -R, one process), as latin1 strings of their path bytes. */
export async function opaqueDirs(root: string, names: readonly string[] = [opaqueName('trusted')]): Promise<Set<string>> {
  return new Set((await opaqueMarks(root, names)).keys());
}

/** The same, each with the name of its mark. */
export async function opaqueMarks(root: string, names: readonly string[]): Promise<Map<string, string>> {
  const match = `^(${names.map((n) => n.replace(/\./g, '\\.')).join('|')})$`;
  const r = await run('getfattr', ['-R', '-P', '--absolute-names', '-d', '-m', match, root], false)
    .catch((e: unknown) => {
      throw withContext('reading overlayfs opaque marks (getfattr is in the attr package)', e);
    });
  const out = new Map<string, string>();
  let file: string | null = null;
  // getfattr escapes unprintable bytes (and backslash) as \ooo: latin1 keeps every other byte as one char
  for (const line of r.stdout.toString('latin1').split('\n')) {
    if (line.startsWith('# file: ')) file = line.slice(8).replace(/\\(\d{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
    else {
      const name = file && names.find((n) => line.startsWith(`${n}="y"`));
      if (file && name) out.set(file, name);
    }
  }
  return out;
}

const major = (rdev: number): number => Math.floor(rdev / 256) & 0xfff;
const minor = (rdev: number): number => (rdev & 0xff) | ((Math.floor(rdev / 4096) & 0xfff00) >>> 0);

const SLASH = Buffer.from('/');
const cat = (...b: Buffer[]): Buffer => Buffer.concat(b);
const key = (b: Buffer): string => b.toString('latin1');

/*
 * The walk makes plain (synchronous) system calls, as tar does: a layer is
 * thousands of small files, and four thread-pool round trips per file
 * (lstat, open, read, close) left an export idle most of its time on a
 * loaded machine.  Nothing else runs while a layer is packed.
 */

/** A regular file's bytes, read through an fd opened without following a link: exactly size bytes. */
function* fileBody(full: Buffer, size: number, shown: string, out: TarOut): Generator<Buffer> {
  const fd = openSync(full, C.O_RDONLY | C.O_NOFOLLOW | C.O_NONBLOCK);
  try {
    yield* out.body(fd, size, shown);
  } finally {
    closeSync(fd);
  }
}

function* walk(root: Buffer, rel: Buffer | null, opaque: Set<string>, links: Map<string, Buffer>, ids: IdMap, out: TarOut): Generator<Buffer> {
  const dir = rel ? cat(root, SLASH, rel) : root;
  const names = readdirSync(dir, { encoding: 'buffer' }).sort(Buffer.compare);
  for (const n of names) {
    const path = rel ? cat(rel, SLASH, n) : n;
    const full = cat(root, SLASH, path);
    const st = lstatSync(full);
    const base = { name: path, mode: st.mode & 0o7777, uid: ids.uid(st.uid), gid: ids.gid(st.gid), mtime: Math.floor(st.mtimeMs / 1000) };
    const emit = (h: Partial<TarHeader> & { type: TarHeader['type'] }): Buffer => encodeHeader({ ...base, ...h });
    if (st.isCharacterDevice() && st.rdev === 0) {
      yield* out.piece(emit({ type: 'file', name: cat(rel ? cat(rel, SLASH) : Buffer.alloc(0), Buffer.from('.wh.'), n), mode: 0, size: 0 }));
    } else if (st.isDirectory()) {
      yield* out.piece(emit({ type: 'directory' }));
      if (opaque.has(key(full))) yield* out.piece(emit({ type: 'file', name: cat(path, Buffer.from('/.wh..wh..opq')), mode: 0, size: 0 }));
      yield* walk(root, path, opaque, links, ids, out);
    } else if (st.isSymbolicLink()) {
      yield* out.piece(emit({ type: 'symlink', linkname: readlinkSync(full, { encoding: 'buffer' }) }));
    } else if (st.isFile()) {
      const id = `${st.dev}:${st.ino}`;
      const first = st.nlink > 1 ? links.get(id) : undefined;
      if (first !== undefined) {
        yield* out.piece(emit({ type: 'link', linkname: first }));
        continue;
      }
      if (st.nlink > 1) links.set(id, path);
      yield* out.piece(emit({ type: 'file', size: st.size }));
      yield* fileBody(full, st.size, key(path), out);
      yield* out.piece(padding(st.size));
    } else if (st.isCharacterDevice() || st.isBlockDevice()) {
      yield* out.piece(emit({ type: st.isCharacterDevice() ? 'character-device' : 'block-device', devmajor: major(st.rdev), devminor: minor(st.rdev) }));
    } else if (st.isFIFO()) {
      yield* out.piece(emit({ type: 'fifo' }));
    } // sockets are not archived (as tar does)
  }
}

function* layerTar(root: string, opaque: Set<string>, ids: IdMap, out: TarOut): Generator<Buffer> {
  yield* walk(Buffer.from(root), null, opaque, new Map(), ids, out);
  yield* out.piece(END);
  yield* out.end();
}

export interface PackedLayer {
  diffId: string;
  digest: string;
  size: number;
}

/**
 * The plain tar of root as an OCI layer, in pieces (or as out gathers them;
 * the opaque marks, in namespace ns, read first); errors name root.  A user's layer (ns user) is
 * owned by the user: its files are root's in the tar, as the rootless run
 * shows them.
 */
export async function layerChunks(root: string, ns: OverlayNs = 'trusted', out: TarOut = piecesOut): Promise<Iterable<Buffer>> {
  let opaque: Set<string>;
  const ids = ownerMap(ns === 'user');
  try {
    opaque = await opaqueDirs(root, [opaqueName(ns)]);
  } catch (err) {
    throw packError(root, err);
  }
  return {
    *[Symbol.iterator]() {
      try {
        yield* layerTar(root, opaque, ids, out);
      } catch (err) {
        throw packError(root, err);
      }
    },
  };
}

/** The same as a stream, in chunks of 1 MiB. */
export async function layerStream(root: string, ns: OverlayNs = 'trusted'): Promise<Readable> {
  return Readable.from(await layerChunks(root, ns, new ChunkOut()), { objectMode: false, highWaterMark: 2 << 20 });
}

function packError(root: string, err: unknown, file?: string): Error {
  const e = err as NodeJS.ErrnoException;
  if (err instanceof MincError && err.message.startsWith(`packing ${root} `)) return err; // said once, by the walk
  if (e.code === 'ENOSPC') return new MincError(`packing ${root} as a layer${file ? ` into ${file}` : ''}: no space left on device`);
  if (e.code && e.syscall) return new MincError(`packing ${root} as a layer: ${e.syscall} failed (${e.code})`);
  return withContext(`packing ${root} as a layer`, err);
}

export interface PackOptions {
  /** gzip the tar (a push's blob): true by default */
  gzip?: boolean;
  /** the gzip program to run (default: findGzipper()), null for node's zlib */
  gzipper?: Gzipper | null;
  /** the namespace of the overlayfs marks (a user's layer: user) */
  ns?: OverlayNs;
  /** also write the blob's bytes here (a push's upload): ended once the blob is whole and good, destroyed on an error */
  tee?: Writable;
}

/** Pack root as an OCI layer into file, gzipped unless opts.gzip is false. */
export async function packLayer(root: string, file: string, opts: PackOptions = {}): Promise<PackedLayer> {
  const { gzip = true, gzipper, ns = 'trusted', tee } = opts;
  let tar: Readable;
  try {
    tar = await layerStream(root, ns);
  } catch (err) {
    tee?.destroy(err as Error); // nothing will come: the upload must not wait for it
    throw err;
  }
  try {
    const diff = new Hasher();
    const blob = new Hasher();
    const out = createWriteStream(file, { flags: 'wx', mode: 0o600 });
    const sink: [Duplex, ...Duplex[], Writable] = tee ? [blob, new Gather(), new Tee(tee), out] : [blob, new Gather(), out];
    await (gzip ? gzipTo([tar, diff], sink, gzipper) : pipeline(tar, diff, ...sink));
    tee?.end();
    return { diffId: diff.digest(), digest: blob.digest(), size: blob.bytes };
  } catch (err) {
    tar.destroy();
    if (tee && !tee.destroyed) tee.destroy(err as Error);
    throw packError(root, err, file);
  }
}
