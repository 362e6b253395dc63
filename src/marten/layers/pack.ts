/**
 * Packing a layer directory (overlayfs form: an image root or a container's
 * storage) as an OCI layer tar (tar-stream), overlayfs whiteouts turned back
 * into OCI ones:  char device 0/0 NAME -> .wh.NAME,  an opaque directory
 * (trusted.overlay.opaque=y) -> DIR/.wh..wh..opq.  Written gzipped to a file;
 * resolves to the DiffID (uncompressed) and digest (compressed).
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { lstat, readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGzip, constants as zc } from 'node:zlib';
import { run } from '../proc.js';
import tarStream, { type Header } from 'tar-stream';
import { withContext } from '../../errors.js';
import { Hasher } from './hasher.js';

/** Directories under root marked opaque (getfattr -R, one process). */
export async function opaqueDirs(root: string): Promise<Set<string>> {
  const r = await run('getfattr', ['-R', '-P', '--absolute-names', '-d', '-m', '^trusted\\.overlay\\.opaque$', root], false)
    .catch((e: unknown) => {
      throw withContext('reading overlayfs opaque marks (getfattr is in the attr package)', e);
    });
  const out = new Set<string>();
  let file: string | null = null;
  for (const line of r.stdout.toString().split('\n')) {
    if (line.startsWith('# file: ')) file = line.slice(8).replace(/\\(\d{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
    else if (file && /^trusted\.overlay\.opaque="y"/i.test(line)) out.add(file);
  }
  return out;
}

const major = (rdev: number): number => Math.floor(rdev / 256) & 0xfff;
const minor = (rdev: number): number => (rdev & 0xff) | ((Math.floor(rdev / 4096) & 0xfff00) >>> 0);

type Pack = ReturnType<typeof tarStream.pack>;

function add(pack: Pack, header: Partial<Header> & { name: string }, body?: string): Promise<void> {
  return new Promise((resolve, reject) => pack.entry(header, body ?? '', (err) => (err ? reject(err) : resolve())));
}

async function walk(pack: Pack, root: string, rel: string, opaque: Set<string>, links: Map<string, string>): Promise<void> {
  const names = (await readdir(join(root, rel))).sort();
  for (const n of names) {
    const path = rel ? `${rel}/${n}` : n;
    const full = join(root, path);
    const st = await lstat(full);
    const base = { name: path, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: st.mtime };
    if (st.isCharacterDevice() && st.rdev === 0) {
      await add(pack, { ...base, name: rel ? `${rel}/.wh.${n}` : `.wh.${n}`, mode: 0, size: 0 });
    } else if (st.isDirectory()) {
      await add(pack, { ...base, type: 'directory' });
      if (opaque.has(full)) await add(pack, { ...base, name: `${path}/.wh..wh..opq`, mode: 0, size: 0 });
      await walk(pack, root, path, opaque, links);
    } else if (st.isSymbolicLink()) {
      await add(pack, { ...base, type: 'symlink', linkname: await readlink(full) });
    } else if (st.isFile()) {
      const key = `${st.dev}:${st.ino}`;
      const first = st.nlink > 1 ? links.get(key) : undefined;
      if (first !== undefined) {
        await add(pack, { ...base, type: 'link', linkname: first, size: 0 });
        continue;
      }
      if (st.nlink > 1) links.set(key, path);
      await new Promise<void>((resolve, reject) => {
        const entry = pack.entry({ ...base, type: 'file', size: st.size }, (err) => (err ? reject(err) : resolve()));
        pipeline(createReadStream(full, { highWaterMark: 1024 * 1024 }), entry).catch(reject);
      });
    } else if (st.isCharacterDevice() || st.isBlockDevice()) {
      const type = st.isCharacterDevice() ? 'character-device' : 'block-device';
      await add(pack, { ...base, type, devmajor: major(st.rdev), devminor: minor(st.rdev) });
    } else if (st.isFIFO()) {
      await add(pack, { ...base, type: 'fifo' });
    } // sockets are not archived (as tar does)
  }
}

export interface PackedLayer {
  diffId: string;
  digest: string;
  size: number;
}

/** Pack root as an OCI layer into file, gzipped unless gzip is false. */
export async function packLayer(root: string, file: string, gzip = true): Promise<PackedLayer> {
  try {
    const opaque = await opaqueDirs(root);
    const pack = tarStream.pack();
    const diff = new Hasher();
    const blob = new Hasher();
    const written = gzip
      ? pipeline(pack, diff, createGzip({ level: zc.Z_DEFAULT_COMPRESSION, chunkSize: 256 * 1024 }), blob, createWriteStream(file))
      : pipeline(pack, diff, blob, createWriteStream(file));
    const walked = walk(pack, root, '', opaque, new Map()).then(() => pack.finalize(), (e: unknown) => {
      pack.destroy(e as Error);
      throw e;
    });
    await Promise.all([walked, written]);
    return { diffId: diff.digest(), digest: blob.digest(), size: blob.bytes };
  } catch (err) {
    throw withContext(`packing ${root} as a layer`, err);
  }
}
