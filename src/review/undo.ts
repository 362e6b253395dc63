/**
 * minc --undo DIR: the host put back as the journal of the last apply says
 * it was, whether that apply finished or was killed half way: every entry,
 * children before parents, gets its old self back (written beside and
 * renamed into place, as an apply does); then the directories' metadata.
 */
import { spawnSync } from 'node:child_process';
import { constants, copyFileSync, lstatSync, mkdirSync, renameSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { MincError, withContext } from '../errors.js';
import { baseOf, HostTree, parentOf, shown } from './hostfs.js';
import { readJournal, readState, reviewDir, writeState } from './journal.js';
import { makeNode, removeEntry, setMeta } from './ops.js';
import { dumpPaths, removeAttr, restoreAttrs } from './xattr.js';

export function undo(dir: string): number {
  const state = readState(dir);
  if (state !== 'applying' && state !== 'applied') throw new MincError(`${dir}: no apply to undo${state === 'undone' ? ' (the last one was undone already)' : ''}`);
  const j = readJournal(dir);
  const uid = process.getuid?.() ?? 0;
  const tree = new HostTree(j.rootdir);
  const b = join(reviewDir(dir), 'b');
  try {
    const entries = [...j.entries].map((e) => ({ e, path: Buffer.from(e.path, 'base64') })).sort((x, y) => Buffer.compare(y.path, x.path));
    for (const { e, path } of entries) {
      if (e.parentOnly) continue;
      try {
        putBack(e, path);
      } catch (err) {
        throw withContext(`putting back ${shown(tree.hostPath(path))}`, err);
      }
    }
    function putBack(e: (typeof j.entries)[number], path: Buffer): void {
      const pfd = tree.dir(parentOf(path));
      if (pfd === null) return; // inside a directory put back whole (or gone with it)
      const at = tree.at(pfd, baseOf(path));
      const tmp = Buffer.from(e.tmp, 'latin1');
      const tmpAt = tree.at(pfd, tmp);
      removeEntry(tmpAt);
      const was = e.before;
      let cur = null;
      try {
        cur = lstatSync(at);
      } catch {
        /* not there */
      }
      if (was.kind === 'missing') {
        if (cur) removeEntry(at);
        return;
      }
      if (was.kind === 'dir' && !was.tree) {
        // a directory kept in place: its entries are entries of their own; metadata last
        if (cur && !cur.isDirectory()) removeEntry(at);
        if (!cur || !cur.isDirectory()) mkdirSync(at, 0o700);
        return;
      }
      if (was.tree) {
        const r = spawnSync('cp', ['-a', '--', join(b, was.backup!), e.tmp], { cwd: `/proc/${process.pid}/fd/${pfd}`, stdio: ['ignore', 'ignore', 'pipe'] });
        if (r.status !== 0) throw new MincError(`putting back ${tree.hostPath(path).toString()}: cp: ${r.error?.message ?? r.stderr.toString().trim()}`);
      } else if (was.kind === 'file') copyFileSync(join(b, was.backup!), tmpAt, constants.COPYFILE_EXCL);
      else if (was.kind === 'symlink') symlinkSync(Buffer.from(was.target!, 'base64'), tmpAt);
      else if (was.kind === 'fifo' || was.kind === 'device') makeNode(pfd, tmp, was.kind, was.rdev ?? 0, was.block === true);
      else return; // a socket cannot be made again
      if (!was.tree) {
        setMeta(tmpAt, was, was.kind === 'symlink');
        if (was.attrs) restoreAttrs([{ path: tree.forChild(pfd, tmp), attrs: new Map(was.attrs) }]);
      }
      // rename(2) replaces a file by a file, not a directory by anything else, nor anything by a directory
      if (cur && (cur.isDirectory() || was.tree)) removeEntry(at);
      renameSync(tmpAt, at);
    }
    // directories' metadata (and the times of the parents), bottom up; attributes an apply added go
    tree.forget();
    const kept = entries.filter(({ e }) => e.before.kind === 'dir' && !e.before.tree && !e.parentOnly);
    const now = dumpPaths(kept.map(({ path }) => tree.hostPath(path)), '^(user|security)\\.');
    for (const { e, path } of kept) {
      const had = new Set((e.before.attrs ?? []).map(([k]) => k));
      for (const k of now.get(tree.hostPath(path).toString('latin1'))?.keys() ?? []) if (!had.has(k)) removeAttr(tree.hostPath(path), k);
    }
    for (const { e, path } of entries) {
      if (e.before.kind !== 'dir' || e.before.tree) continue;
      const at = path.length === 1 ? Buffer.from(j.rootdir) : (() => {
        const pfd = tree.dir(parentOf(path));
        return pfd === null ? null : tree.at(pfd, baseOf(path));
      })();
      if (!at) continue;
      // (a user's undo: a parent of another owner's, which the user could write into, keeps the times the kernel gave it)
      if (uid !== 0 && lstatSync(at).uid !== uid) continue;
      setMeta(at, e.before, false);
      if (e.before.attrs) restoreAttrs([{ path: path.length === 1 ? at : tree.hostPath(path), attrs: new Map(e.before.attrs) }]);
    }
    writeState(dir, 'undone');
    return entries.filter((x) => !x.e.parentOnly).length;
  } finally {
    tree.close();
  }
}
