/**
 * --apply run by a user who is not root (issue 11): only what the user may
 * write on the host is applied; each change that could not be is named, one
 * line a path, and the apply ends with a non-zero status.  A change is the
 * user's to apply when the user may write its host directory and owns what
 * is there already (--undo must be able to put it back as it was), may
 * remove every directory of a tree it replaces, and may read a file it
 * replaces (the backup --undo puts back).  A change below a
 * directory that is not applied (made, or replaced whole) is not applied
 * either.  The checks run before anything is written, as the apply's own.
 */
import { accessSync, constants, lstatSync, readdirSync, type Stats } from 'node:fs';
import { baseOf, parentOf, shown, type HostTree } from './hostfs.js';
import type { Change } from './scan.js';

export interface Refused {
  readonly path: Buffer;
  readonly why: string;
}

const key = (p: Buffer): string => p.toString('latin1');

const can = (p: Buffer | string, mode: number): boolean => {
  try {
    accessSync(p, mode);
    return true;
  } catch {
    return false;
  }
};

/** A directory tree every directory of which the user may write (to empty it), bounded in entries looked at. */
function removable(p: Buffer, budget = { n: 100_000 }): boolean {
  if (!can(p, constants.W_OK | constants.X_OK)) return false;
  let names: { name: Buffer; isDirectory(): boolean }[];
  try {
    names = readdirSync(p, { encoding: 'buffer', withFileTypes: true }) as unknown as { name: Buffer; isDirectory(): boolean }[];
  } catch {
    return false;
  }
  for (const e of names) {
    if (--budget.n < 0) return false;
    if (e.isDirectory() && !removable(Buffer.concat([p, Buffer.from('/'), e.name]), budget)) return false;
  }
  return true;
}

/** Does the change make (or replace whole) a directory, so that its children need it applied? */
const makesDir = (c: Change): boolean => c.kind === 'dir' && (c.status === 'A' || c.what.includes('type') || c.opaque);

/** The changes the user uid may apply onto tree, and why each of the others may not be. */
export function writableChanges(tree: HostTree, chosen: readonly Change[], uid: number): { ok: Change[]; refused: Refused[] } {
  const ok: Change[] = [];
  const refused: Refused[] = [];
  const blocked = new Map<string, Buffer>();
  for (const c of chosen) {
    let why: string | null = null;
    for (let p = parentOf(c.path); p.length > 1 && why === null; p = parentOf(p)) {
      const b = blocked.get(key(p));
      if (b) why = `its directory ${shown(tree.hostPath(b))} is not applied`;
    }
    if (why === null) why = check(tree, c, uid);
    if (why === null) {
      ok.push(c);
      continue;
    }
    refused.push({ path: c.path, why });
    if (makesDir(c)) blocked.set(key(c.path), c.path);
  }
  return { ok, refused };
}

function check(tree: HostTree, c: Change, uid: number): string | null {
  const parent = parentOf(c.path);
  const pfd = tree.dir(parent);
  if (pfd === null) return null; // a directory this apply makes (checked as its own change), or missing: the apply says so
  const pdir = tree.at(pfd, Buffer.from('.'));
  const hostParent = shown(tree.hostPath(parent));
  if (!can(pdir, constants.W_OK | constants.X_OK)) return `you may not write ${hostParent}`;
  const at = tree.at(pfd, baseOf(c.path));
  let st: Stats;
  try {
    st = lstatSync(at);
  } catch {
    return null; // new here: the directory's write permission is all it needs
  }
  // (one of another owner's could be replaced where the directory allows, but --undo could not give it back to them)
  if (st.uid !== uid) return 'it is not yours (--undo could not give it back to its owner)';
  const isDir = c.st?.isDirectory() ?? false;
  if (st.isDirectory()) {
    if (isDir && c.status === 'C' && !c.opaque && !c.what.includes('type')) return null; // kept in place: its own mode, times, attributes are set
    return removable(at) ? null : 'you may not remove all of the directory it replaces';
  }
  if (st.isFile() && !can(at, constants.R_OK)) return 'you may not read it (its backup for --undo)';
  return null;
}
