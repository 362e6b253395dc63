/**
 * DIR/review/: the journal of the last apply, written (and synced) before the
 * host is touched, so that `minc --undo DIR` can put back what was there,
 * also after an apply that was killed half way.
 *   journal  JSON: every host path the apply may touch, what it was, the
 *            name its new content is written under beside it
 *   b/N      a backup: a file's bytes, or a whole directory tree (cp -a)
 *   state    applying | applied | undone
 */
import { closeSync, constants, copyFileSync, fsyncSync, lstatSync, mkdirSync, openSync, readlinkSync, renameSync, type Stats, writeSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { MincError } from '../errors.js';
import { readNoFollow } from '../fs/nofollow.js';
import { removeTree } from '../run/rmtree.js';
import { baseOf, parentOf, type HostTree } from './hostfs.js';
import { kindOf, type Kind } from './scan.js';
import { dumpPaths } from './xattr.js';

export interface Before {
  kind: Kind | 'missing';
  mode?: number;
  uid?: number;
  gid?: number;
  atime?: number;
  mtime?: number;
  rdev?: number;
  block?: boolean;
  /** a symlink's target, base64 */
  target?: string;
  /** b/N: a file's bytes, or a tree */
  backup?: string;
  tree?: boolean;
  attrs?: [string, string][];
}

export interface Entry {
  /** container path, base64 */
  path: string;
  /** the name new content is written under, beside the target */
  tmp: string;
  before: Before;
  /** a parent directory not changed itself: only its metadata (times) are put back */
  parentOnly?: boolean;
}

export interface Journal {
  version: 1;
  rootdir: string;
  entries: Entry[];
}

export const reviewDir = (dir: string): string => join(dir, 'review');

export function readState(dir: string): string | null {
  return readNoFollow(join(reviewDir(dir), 'state'), 64)?.toString().trim() ?? null;
}

function writeSynced(path: string, data: string | Buffer): void {
  const tmp = `${path}.tmp`;
  const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW, 0o600);
  try {
    const buf = Buffer.from(data);
    for (let off = 0; off < buf.length; ) off += writeSync(fd, buf, off);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  const d = openSync(join(path, '..'), constants.O_RDONLY | constants.O_DIRECTORY);
  fsyncSync(d);
  closeSync(d);
}

export function writeState(dir: string, state: string): void {
  writeSynced(join(reviewDir(dir), 'state'), `${state}\n`);
}

export function readJournal(dir: string): Journal {
  const text = readNoFollow(join(reviewDir(dir), 'journal'), 1 << 30);
  if (text === null) throw new MincError(`${dir}: no journal of an apply to undo`);
  const j = JSON.parse(text.toString()) as Journal;
  if (j.version !== 1 || !Array.isArray(j.entries) || typeof j.rootdir !== 'string') throw new MincError(`${dir}: the journal is not minc's`);
  return j;
}

/** A fresh review/ dir (the journal of an earlier apply goes: --undo undoes the last one). */
export function freshReviewDir(dir: string): void {
  const state = readState(dir);
  if (state === 'applying') throw new MincError(`an earlier apply from ${dir} was interrupted: run minc --undo ${dir} first`);
  removeTree(reviewDir(dir));
  mkdirSync(join(reviewDir(dir), 'b'), { recursive: true, mode: 0o700 });
}

export const meta = (st: Stats): Before => ({
  kind: kindOf(st), mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, atime: st.atimeMs / 1000, mtime: st.mtimeMs / 1000,
  ...(st.isBlockDevice() || st.isCharacterDevice() ? { rdev: st.rdev, block: st.isBlockDevice() } : {}),
});

/**
 * What is at a host path now, with a backup of it in b/N: a file's bytes, a
 * symlink's target, or (tree) a whole directory; otherwise a directory's
 * metadata only.  Attributes are added after, in one batch (withAttrs).
 */
export function record(tree: HostTree, dir: string, path: Buffer, n: number, wholeTree: boolean): Before {
  const pfd = tree.dir(parentOf(path));
  if (pfd === null) return { kind: 'missing' };
  const at = tree.at(pfd, baseOf(path));
  let st: Stats;
  try {
    st = lstatSync(at);
  } catch {
    return { kind: 'missing' };
  }
  const b = meta(st);
  const backup = join(reviewDir(dir), 'b', String(n));
  if (st.isFile()) {
    copyFileSync(at, backup, constants.COPYFILE_EXCL);
    b.backup = String(n);
  } else if (st.isSymbolicLink()) {
    b.target = readlinkSync(at, { encoding: 'buffer' }).toString('base64');
  } else if (st.isDirectory() && wholeTree) {
    const fd = openSync(at, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
    try {
      const r = spawnSync('cp', ['-a', '--', '.', backup], { cwd: `/proc/${process.pid}/fd/${fd}`, stdio: ['ignore', 'ignore', 'pipe'] });
      if (r.status !== 0) throw new MincError(`backing up ${tree.hostPath(path).toString()}: cp: ${r.error?.message ?? r.stderr.toString().trim()}`);
    } finally {
      closeSync(fd);
    }
    b.backup = String(n);
    b.tree = true;
  }
  return b;
}

/** The user.* and security.* attributes of the recorded entries, read in one batch. */
export function withAttrs(tree: HostTree, entries: Entry[]): void {
  const want = entries.filter((e) => e.before.kind !== 'missing' && !e.before.tree);
  const paths = want.map((e) => tree.hostPath(Buffer.from(e.path, 'base64')));
  const dump = dumpPaths(paths, '^(user|security)\\.');
  want.forEach((e, i) => {
    const a = dump.get(paths[i]!.toString('latin1'));
    if (a && a.size > 0) e.before.attrs = [...a];
  });
}

export function writeJournal(dir: string, j: Journal): void {
  writeSynced(join(reviewDir(dir), 'journal'), JSON.stringify(j));
}
