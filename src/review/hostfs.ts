/**
 * The host side of an apply or undo, never through a symlink: each parent is
 * opened one component at a time (O_DIRECTORY | O_NOFOLLOW, through the
 * previous one's /proc/self/fd link: openat(2) as node can do it), and every
 * entry is then named as /proc/self/fd/DIRFD/NAME, which the kernel resolves
 * without following a link in NAME.  A parent that is a symlink is refused.
 */
import { closeSync, constants, lstatSync, openSync, type Stats } from 'node:fs';
import { MincError } from '../errors.js';
import { components } from '../fs/inroot.js';

const SLASH = 0x2f;

export const parentOf = (path: Buffer): Buffer => {
  const i = path.lastIndexOf(SLASH);
  return i <= 0 ? Buffer.from('/') : path.subarray(0, i);
};
export const baseOf = (path: Buffer): Buffer => path.subarray(path.lastIndexOf(SLASH) + 1);

export const shown = (p: Buffer): string => JSON.stringify(p.toString('utf8')).slice(1, -1);

export class HostTree {
  readonly root: string;
  private readonly rootFd: number;
  private readonly fds = new Map<string, number>();

  constructor(root: string) {
    this.root = root.replace(/\/+$/, '');
    this.rootFd = openSync(root, constants.O_RDONLY | constants.O_DIRECTORY);
  }

  /** /proc/self/fd/FD/NAME */
  at(fd: number, name: Buffer): Buffer {
    return Buffer.concat([Buffer.from(`/proc/self/fd/${fd}/`), name]);
  }

  /** The same, for another process (a tool minc runs). */
  forChild(fd: number, name: Buffer): Buffer {
    return Buffer.concat([Buffer.from(`/proc/${process.pid}/fd/${fd}/`), name]);
  }

  /** The host path of a container path, for a tool's own reading (parents checked first). */
  hostPath(path: Buffer): Buffer {
    return Buffer.concat([Buffer.from(this.root), path]);
  }

  /** An fd of the directory at container path dir, or null when it (or a parent) is missing; a symlink or non-directory on the way is an error. */
  dir(dir: Buffer): number | null {
    const key = dir.toString('latin1');
    const cached = this.fds.get(key);
    if (cached !== undefined) return cached;
    const parts = components(dir); // (a '.' in it names the same dir: left out)
    if (parts.length === 0) return this.rootFd;
    const up = this.dir(parentOf(dir));
    if (up === null) return null;
    let fd: number;
    try {
      fd = openSync(this.at(up, parts.at(-1)!), constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return null;
      if (code === 'ELOOP' || code === 'ENOTDIR') throw new MincError(`${shown(this.hostPath(dir))} on the host is a symbolic link or not a directory: not writing through it`);
      throw err;
    }
    this.fds.set(key, fd);
    return fd;
  }

  /** lstat of the entry at a container path, or null (also when its parent is missing). */
  lstat(path: Buffer): Stats | null {
    const fd = this.dir(parentOf(path));
    if (fd === null) return null;
    try {
      return lstatSync(this.at(fd, baseOf(path)));
    } catch {
      return null;
    }
  }

  /** Forget the open directories (after directories were replaced). */
  forget(): void {
    for (const fd of this.fds.values()) closeSync(fd);
    this.fds.clear();
  }

  close(): void {
    this.forget();
    closeSync(this.rootFd);
  }
}

/** A name beside a target that nothing else uses: made with O_EXCL or mkdir. */
export function tmpName(): Buffer {
  return Buffer.from(`.minc-apply-${process.pid}-${Math.random().toString(36).slice(2, 10)}`);
}
