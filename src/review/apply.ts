/**
 * minc --apply DIR [PATH...]: the sandbox's changes onto its root directory.
 *   1. pick the changes (PATHs, --exclude, the lines kept in --review's
 *      edit) and the added directories they need;
 *   2. check the host: no symlink among the parents, and nothing changed
 *      after the sandbox began (ctime later than `started`) unless --force;
 *   3. write the journal and its backups (journal.ts), then the host:
 *      directories first (top down), then every file, link and node made
 *      beside its target and renamed into place, deletions, and last the
 *      directories' own metadata (bottom up: adding to a directory changes
 *      its mtime).
 */
import { constants, copyFileSync, linkSync, lstatSync, mkdirSync, readlinkSync, renameSync, symlinkSync } from 'node:fs';
import { MincError } from '../errors.js';
import { baseOf, HostTree, parentOf, shown, tmpName } from './hostfs.js';
import { freshReviewDir, meta, record, withAttrs, writeJournal, writeState, type Entry } from './journal.js';
import { makeNode, removeEntry, setMeta } from './ops.js';
import type { Sandbox } from './sandbox.js';
import type { Change } from './scan.js';
import { removeAttr, restoreAttrs, type Attrs } from './xattr.js';

const key = (p: Buffer): string => p.toString('latin1');
const within = (p: string, top: string): boolean => top === '/' || p === top || p.startsWith(`${top}/`);

export interface Selection {
  /** container paths: changes at or below them (none: all) */
  readonly paths?: readonly Buffer[];
  /** exact container paths (the lines kept in --review's edit) */
  readonly only?: ReadonlySet<string>;
  readonly exclude: (p: Buffer) => boolean;
}

/** The changes picked, with the added directories their parents need. */
export function select(changes: readonly Change[], sel: Selection): Change[] {
  const tops = sel.paths?.map((p) => key(p).replace(/(.)\/+$/, '$1'));
  const picked = changes.filter((c) => !sel.exclude(c.path)
    && (!tops || tops.length === 0 || tops.some((t) => within(key(c.path), t)))
    && (!sel.only || sel.only.has(key(c.path))));
  const byPath = new Map(changes.map((c) => [key(c.path), c]));
  const out = new Map(picked.map((c) => [key(c.path), c]));
  for (const c of picked) {
    for (let p = parentOf(c.path); p.length > 1; p = parentOf(p)) {
      const a = byPath.get(key(p));
      if (a && a.kind === 'dir' && (a.status === 'A' || a.what.includes('type'))) out.set(key(p), a);
    }
  }
  return [...out.values()].filter((c) => c.kind !== 'socket').sort((x, y) => Buffer.compare(x.path, y.path));
}

/** Host entries under a directory that changed after t (a tree the apply would remove). */
function changedBelow(p: Buffer, t: number, found: Buffer[], shownAs: Buffer): void {
  const { readdirSync } = process.getBuiltinModule('node:fs');
  for (const e of readdirSync(p, { withFileTypes: true, encoding: 'buffer' })) {
    const q = Buffer.concat([p, Buffer.from('/'), e.name as unknown as Buffer]);
    const s = Buffer.concat([shownAs, Buffer.from('/'), e.name as unknown as Buffer]);
    if (lstatSync(q).ctimeMs > t) found.push(s);
    if (e.isDirectory()) changedBelow(q, t, found, s);
  }
}

interface Step {
  c: Change;
  e: Entry;
  /** replaces a directory of the host whole (opaque, a type change, a deletion) */
  replacesDir: boolean;
}

/**
 * owners: set each entry's owner as the sandbox has it (root's apply of a
 * root's run); a user's apply, or one of a rootless run's sandbox, leaves
 * entries owned by whoever applies (the upper's owners there are
 * fuse-overlayfs's or the user namespace's, and a user cannot chown).
 */
export function applyChanges(sb: Sandbox, root: string, chosen: readonly Change[], force: boolean, owners = true): number {
  const own = (st: { uid: number; gid: number }): { uid?: number; gid?: number } => (owners ? { uid: st.uid, gid: st.gid } : {});
  const tree = new HostTree(root);
  try {
    // 2. the host as it is: parents, conflicts
    const newDirs = new Set<string>();
    const steps: Step[] = [];
    const conflicts: Buffer[] = [];
    for (const c of chosen) {
      const k = key(c.path);
      const parentNew = newDirs.has(key(parentOf(c.path)));
      let st = null;
      if (!parentNew) {
        if (tree.dir(parentOf(c.path)) === null) throw new MincError(`${shown(tree.hostPath(parentOf(c.path)))} is missing on the host: it was removed after the sandbox began`);
        st = tree.lstat(c.path);
      }
      const isDir = c.st?.isDirectory() ?? false;
      const replacesDir = Boolean(st?.isDirectory()) && (c.status === 'D' || !isDir || c.opaque);
      if (isDir && (!st || !st.isDirectory() || c.opaque)) newDirs.add(k);
      if (st && st.ctimeMs > sb.started) conflicts.push(c.path);
      if (replacesDir) changedBelow(tree.at(tree.dir(parentOf(c.path))!, baseOf(c.path)), sb.started, conflicts, c.path);
      steps.push({ c, e: { path: c.path.toString('base64'), tmp: tmpName().toString('latin1'), before: st ? meta(st) : { kind: 'missing' } }, replacesDir });
    }
    if (conflicts.length > 0 && !force) {
      const names = conflicts.slice(0, 5).map((p) => shown(p)).join(', ');
      throw new MincError(`not applying: ${conflicts.length} host path${conflicts.length > 1 ? 's' : ''} changed after the sandbox began: ${names}${conflicts.length > 5 ? ` and ${conflicts.length - 5} more` : ''} (--force applies anyway)`);
    }
    // 3. the journal, with backups of all that is there now, and the parents' times
    freshReviewDir(sb.dir);
    let n = 0;
    for (const s of steps) if (s.e.before.kind !== 'missing') s.e.before = record(tree, sb.dir, s.c.path, n++, s.replacesDir);
    const entries = steps.map((s) => s.e);
    const seen = new Set(steps.map((s) => key(s.c.path)));
    for (const s of steps) {
      const p = parentOf(s.c.path);
      if (seen.has(key(p)) || newDirs.has(key(p))) continue;
      seen.add(key(p));
      const st = p.length === 1 ? lstatSync(root) : tree.lstat(p);
      if (st) entries.push({ path: p.toString('base64'), tmp: '', before: meta(st), parentOnly: true });
    }
    withAttrs(tree, entries);
    writeJournal(sb.dir, { version: 1, rootdir: root, entries });
    writeState(sb.dir, 'applying');
    tree.forget();
    // directories, top down
    for (const { c, e } of steps) {
      if (!c.st?.isDirectory()) continue;
      const pfd = tree.dir(parentOf(c.path))!;
      const at = tree.at(pfd, baseOf(c.path));
      if (newDirs.has(key(c.path))) {
        if (e.before.kind !== 'missing') removeEntry(at);
        mkdirSync(at, 0o700);
      }
      setMeta(at, { ...own(c.st), mode: c.st.mode & 0o7777 }, false);
    }
    tree.forget();
    // everything else, made beside its target
    const links = new Map<string, Buffer>();
    const attrs: { path: Buffer; attrs: Attrs }[] = [];
    for (const { c, e } of steps) {
      const pfd = tree.dir(parentOf(c.path))!;
      if (c.st?.isDirectory()) {
        if (c.attrs) attrs.push({ path: tree.forChild(pfd, baseOf(c.path)), attrs: c.attrs });
        // a name the sandbox removed from a directory kept in place
        for (const [k] of e.before.attrs ?? []) if (!newDirs.has(key(c.path)) && !c.attrs?.has(k)) removeAttr(tree.hostPath(c.path), k);
        continue;
      }
      if (c.status === 'D' || !c.st || !c.upper) continue;
      const tmp = Buffer.from(e.tmp, 'latin1');
      const at = tree.at(pfd, tmp);
      const st = c.st;
      const ino = `${st.dev}:${st.ino}`;
      if (st.isFile()) {
        const first = st.nlink > 1 ? links.get(ino) : undefined;
        let linked = false;
        if (first) {
          try {
            linkSync(first, at);
            linked = true;
          } catch {
            /* another filesystem: a copy */
          }
        }
        if (!linked) {
          copyFileSync(c.upper, at, constants.COPYFILE_EXCL);
          if (st.nlink > 1) links.set(ino, at);
        }
      } else if (st.isSymbolicLink()) symlinkSync(readlinkSync(c.upper, { encoding: 'buffer' }), at);
      else makeNode(pfd, tmp, st.isFIFO() ? 'fifo' : 'device', st.rdev, st.isBlockDevice());
      setMeta(at, { ...own(st), mode: st.mode & 0o7777, atime: st.atimeMs / 1000, mtime: st.mtimeMs / 1000 }, st.isSymbolicLink());
      if (c.attrs && !st.isSymbolicLink()) attrs.push({ path: tree.forChild(pfd, tmp), attrs: c.attrs });
    }
    restoreAttrs(attrs);
    // into place, and deletions
    for (const { c, e, replacesDir } of steps) {
      if (c.st?.isDirectory()) continue;
      const pfd = tree.dir(parentOf(c.path))!;
      const at = tree.at(pfd, baseOf(c.path));
      if (c.status === 'D') {
        removeEntry(at);
        continue;
      }
      if (replacesDir) removeEntry(at);
      renameSync(tree.at(pfd, Buffer.from(e.tmp, 'latin1')), at);
    }
    // the directories' own times, bottom up
    for (const { c } of [...steps].reverse()) {
      if (!c.st?.isDirectory()) continue;
      const at = tree.at(tree.dir(parentOf(c.path))!, baseOf(c.path));
      setMeta(at, { atime: c.st.atimeMs / 1000, mtime: c.st.mtimeMs / 1000 }, false);
    }
    writeState(sb.dir, 'applied');
    return steps.length;
  } finally {
    tree.close();
  }
}
