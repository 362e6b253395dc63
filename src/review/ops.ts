/** Making and removing host entries beside their targets (names through /proc/self/fd, see hostfs.ts). */
import { spawnSync } from 'node:child_process';
import { lchownSync, lstatSync, lutimesSync, chmodSync, unlinkSync } from 'node:fs';
import { MincError } from '../errors.js';
import { removeTree } from '../run/rmtree.js';

/** Remove what is at p (a directory with all it holds; a symlink itself, never what it points to). */
export function removeEntry(p: Buffer): void {
  let st;
  try {
    st = lstatSync(p);
  } catch {
    return;
  }
  if (st.isDirectory()) removeTree(p);
  else unlinkSync(p);
}

/** Owner, then mode (chown clears set-id bits), then times; a symlink has no mode of its own. */
export function setMeta(p: Buffer, m: { uid?: number; gid?: number; mode?: number; atime?: number; mtime?: number }, symlink: boolean): void {
  if (m.uid !== undefined && m.gid !== undefined) lchownSync(p, m.uid, m.gid);
  if (!symlink && m.mode !== undefined) chmodSync(p, m.mode);
  if (m.atime !== undefined && m.mtime !== undefined) lutimesSync(p, m.atime, m.mtime);
}

/** A fifo or device node named name in the directory of fd dirFd (mknod(2) is not in node: coreutils makes it). */
export function makeNode(dirFd: number, name: Buffer, kind: 'fifo' | 'device', rdev: number, block: boolean): void {
  const major = (rdev >> 8) & 0xfff | ((rdev >>> 32) & ~0xfff);
  const minor = (rdev & 0xff) | ((rdev >> 12) & 0xfff00);
  const argv = kind === 'fifo' ? ['mkfifo', '-m', '600', '--', name.toString('latin1')] : ['mknod', '-m', '600', '--', name.toString('latin1'), block ? 'b' : 'c', String(major), String(minor)];
  const r = spawnSync(argv[0]!, argv.slice(1), { cwd: `/proc/${process.pid}/fd/${dirFd}`, stdio: ['ignore', 'ignore', 'pipe'] });
  if (r.status !== 0) throw new MincError(`${argv[0]}: ${r.error?.message ?? r.stderr.toString().trim()}`);
}
