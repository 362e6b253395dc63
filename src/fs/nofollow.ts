/**
 * Reading and writing a file of a directory someone else may have prepared
 * (a kept temp dir, -t DIR): never through a symlink (O_NOFOLLOW), a regular
 * file only, and never more than a bound.
 */
import { closeSync, constants, fstatSync, openSync, readSync, writeFileSync } from 'node:fs';
import { MincError } from '../errors.js';

/** Write data to path, which must not be a symlink (created if missing, truncated if not). */
export function writeNoFollow(path: string, data: string | Buffer, mode = 0o644): void {
  let fd: number;
  try {
    fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW | constants.O_NONBLOCK, mode);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ELOOP') throw new MincError(`${path} is a symbolic link: not writing through it`);
    throw err;
  }
  try {
    if (!fstatSync(fd).isFile()) throw new MincError(`${path} is not a regular file`);
    writeFileSync(fd, data);
  } finally {
    closeSync(fd);
  }
}

/**
 * The content of path, a regular file that is not a symlink, or null when it
 * is absent; at most limit bytes (more is an error).
 */
export function readNoFollow(path: string | Buffer, limit: number, check?: (fd: number) => void): Buffer | null {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return null;
    if (code === 'ELOOP') throw new MincError(`${path} is a symbolic link`);
    throw err;
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new MincError(`${path} is not a regular file`);
    check?.(fd);
    const buf = Buffer.alloc(Math.min(st.size, limit) + 1);
    let n = 0;
    for (let r; n < buf.length && (r = readSync(fd, buf, n, buf.length - n, null)) > 0; ) n += r;
    if (n > limit) throw new MincError(`${path} is larger than ${limit} bytes`);
    return buf.subarray(0, n);
  } finally {
    closeSync(fd);
  }
}
