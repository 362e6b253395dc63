/**
 * The outer archive of an import (docker save, OCI layout) unpacked by node
 * (tar-stream) into staging, trusting nothing in it: only regular files and
 * directories (a symlink, hard link, device or fifo member is refused: it
 * would make a host file, /dev/zero or a fifo the layer or the config), names
 * kept inside the staging dir, each written once with O_EXCL.  Then members
 * are read back with a bound (JSON: 4 MiB) and parsed without echoing them.
 */
import { closeSync, constants as C, createReadStream, createWriteStream, fstatSync, linkSync, lstatSync, mkdirSync, openSync, readFileSync, readSync } from 'node:fs';
import { join, normalize } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { PassThrough, Transform } from 'node:stream';
import { createGunzip } from 'node:zlib';
import tarStream from 'tar-stream';
import { MincError } from '../../errors.js';
import { MAX_JSON } from './shape.js';

/** Open a file named by the user for reading: a regular file only (a fifo or device would never end, or hang). */
export function openRegular(path: string, what = path, follow = true): number {
  let fd: number;
  try {
    fd = openSync(path, C.O_RDONLY | C.O_NONBLOCK | C.O_NOCTTY | (follow ? 0 : C.O_NOFOLLOW));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new MincError(`${what}: ${code === 'ENOENT' ? 'no such file or directory' : code === 'ELOOP' ? 'is a symlink' : (code ?? 'cannot open')}`);
  }
  if (!fstatSync(fd).isFile()) {
    closeSync(fd);
    throw new MincError(`${what} is not a regular file`);
  }
  return fd;
}

const TYPE_NAMES: Record<string, string> = {
  symlink: 'a symlink', link: 'a hard link', 'character-device': 'a character device', 'block-device': 'a block device',
  fifo: 'a fifo', 'contiguous-file': 'a contiguous file',
};

/** A member name as a relative path inside the archive, or an error. */
export function memberPath(name: string): string {
  const n = normalize(name.replace(/^(\.\/)+/, '')).replace(/\/+$/, '');
  // docker save and OCI layouts name members in plain ASCII; anything else is not theirs
  if (!/^[\x21-\x7e]+$/.test(name)) throw new MincError('the archive has a member whose name is not plain ASCII');
  if (n === '.' || n === '') return '';
  if (n === '..' || n.startsWith('../') || n.startsWith('/')) throw new MincError(`the archive's member ${name} points outside it`);
  return n;
}

/** A gzipped outer archive unpacks to at most this (a gzip bomb stops; a plain one is bounded by its file). */
export const MAX_OUTER = 64 * 2 ** 30;

function bounded(max: number): Transform {
  let n = 0;
  return new Transform({
    transform(chunk: Buffer, _e, cb) {
      n += chunk.length;
      if (n > max) cb(new MincError(`the archive is larger than ${max / 2 ** 30} GiB uncompressed: stopped`));
      else cb(null, chunk);
    },
  });
}

/** Unpack the outer archive (fd of a regular file, gzip or plain tar) into dest; the fd is this function's to close. */
export async function unpackOuter(fd: number, dest: string): Promise<void> {
  const head = Buffer.alloc(2);
  try {
    readSync(fd, head, 0, 2, 0);
  } catch (err) {
    closeSync(fd);
    throw new MincError(`reading the archive: ${(err as NodeJS.ErrnoException).code ?? 'failed'}`);
  }
  const gz = head[0] === 0x1f && head[1] === 0x8b;
  const seen = new Set<string>();
  const links = new Map<string, string>();
  const extract = tarStream.extract();
  let refused: MincError | null = null;
  /** members being written: a failed unpack waits for them, so nothing lands in staging after it is removed */
  const pending = new Set<Promise<void>>();
  let stopped = false;
  extract.on('entry', (header, stream, next) => {
    if (stopped) return void stream.resume(); // failed meanwhile: write nothing more
    const done = (err?: unknown): void => {
      if (err) {
        stopped = true;
        const code = (err as NodeJS.ErrnoException).code;
        refused ??= err instanceof MincError ? err
          : new MincError(code === 'ENOSPC' ? `unpacking the archive (${header.name.slice(0, 200)}): no space left on device`
            : code === 'EEXIST' ? `the archive holds ${header.name.slice(0, 200)} twice` : `unpacking the archive (${header.name.slice(0, 200)}): ${code ?? 'bad member'}`);
        stream.resume();
        extract.destroy(refused);
        return;
      }
      next();
    };
    try {
      const rel = memberPath(header.name);
      const type = header.type ?? 'file';
      if (type === 'symlink' && rel !== '' && !seen.has(rel)) {
        // podman's docker-archive links <id>/layer.tar to ../<digest>.tar: a link to another member,
        // made a hard link to it once all are unpacked (never a symlink on disk)
        links.set(rel, linkTarget(rel, header.linkname ?? ''));
        seen.add(rel);
        return void stream.on('end', () => done()).resume();
      }
      if (type !== 'file' && type !== 'directory') throw new MincError(`the archive's member ${rel || header.name} is ${TYPE_NAMES[type] ?? `a ${type}`}: refused (only files and directories)`);
      if (rel === '') return void stream.on('end', () => done()).resume();
      if (seen.has(rel) && type === 'file') throw new MincError(`the archive holds ${rel} twice`);
      seen.add(rel);
      const path = join(dest, rel);
      if (type === 'directory') {
        mkdirSync(path, { recursive: true, mode: 0o700 });
        return void stream.on('end', () => done()).resume();
      }
      mkdirSync(join(path, '..'), { recursive: true, mode: 0o700 });
      // O_EXCL: never through anything already there (there is nothing but dirs made here); opened
      // here, not by the stream: an open still in flight when a failed unpack returns would make the
      // file after its staging dir is gone
      const out = createWriteStream('', { fd: openSync(path, C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW, 0o600), autoClose: true });
      const written = pipeline(stream, out).then(() => done(), (e: unknown) => done(e));
      pending.add(written);
      void written.finally(() => pending.delete(written));
    } catch (err) {
      done(err);
    }
  });
  const src = createReadStream('', { fd, autoClose: true, start: 0, highWaterMark: 1 << 20 });
  try {
    await pipeline(src, gz ? createGunzip() : new PassThrough(), bounded(MAX_OUTER), extract);
    // the extract stream may finish before the last member is on disk
    while (pending.size > 0) await Promise.allSettled([...pending]);
    if (refused) throw refused;
  } catch (err) {
    stopped = true;
    while (pending.size > 0) await Promise.allSettled([...pending]);
    if (refused) throw refused;
    if (err instanceof MincError) throw err;
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ENOSPC') throw new MincError('unpacking the archive: no space left on device');
    throw new MincError(`not a tar archive (${e.code === 'Z_DATA_ERROR' || e.code === 'Z_BUF_ERROR' ? 'bad gzip data' : 'bad tar data'})`);
  }
  if (seen.size === 0) throw new MincError('not a tar archive (no members)');
  linkMembers(dest, links);
}

/** The member a symlink member names: relative to its directory, and inside the archive (else refused). */
function linkTarget(rel: string, linkname: string): string {
  if (linkname === '' || linkname.startsWith('/')) throw new MincError(`the archive's member ${rel} is a symlink out of it: refused`);
  const target = normalize(join(rel, '..', linkname));
  if (target === '.' || target === '..' || target.startsWith('../')) throw new MincError(`the archive's member ${rel} is a symlink out of it: refused`);
  return memberPath(target);
}

/** Make each symlink member a hard link to the regular file member it names (through other links, a few deep). */
function linkMembers(dest: string, links: Map<string, string>): void {
  for (const [rel, first] of links) {
    let target = first;
    for (let depth = 0; links.has(target); depth++) {
      if (depth > 8) throw new MincError(`the archive's member ${rel}: its symlinks loop`);
      target = links.get(target)!;
    }
    const st = lstatSync(join(dest, target), { throwIfNoEntry: false });
    if (!st?.isFile()) throw new MincError(`the archive's member ${rel} is a symlink to ${target}, which is not a file of the archive: refused`);
    try {
      mkdirSync(join(dest, rel, '..'), { recursive: true, mode: 0o700 });
      linkSync(join(dest, target), join(dest, rel));
    } catch (err) {
      throw new MincError(`the archive's member ${rel}: ${(err as NodeJS.ErrnoException).code === 'EEXIST' ? 'held twice' : ((err as NodeJS.ErrnoException).code ?? 'cannot link')}`);
    }
  }
}

/** Read a member: a regular file (as unpackOuter made it), at most max bytes. */
export function readMember(dir: string, rel: string, what: string, max = MAX_JSON): Buffer {
  const path = join(dir, memberPath(rel));
  let st;
  try {
    st = lstatSync(path);
  } catch {
    throw new MincError(`${what}: not in the archive`);
  }
  if (!st.isFile()) throw new MincError(`${what}: not a regular file in the archive`);
  if (st.size > max) throw new MincError(`${what}: exceeds the maximum allowed size (${max >> 20} MiB)`);
  return readFileSync(path);
}

/** Parse a JSON member; its text is never shown (it may be anything). */
export function parseJson(data: Buffer, what: string): unknown {
  try {
    return JSON.parse(data.toString('utf8')) as unknown;
  } catch {
    throw new MincError(`${what}: not valid JSON`);
  }
}

export const readJsonMember = (dir: string, rel: string, what: string): unknown => parseJson(readMember(dir, rel, what), what);
