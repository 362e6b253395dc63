/**
 * The changes a sandbox holds: each upper dir walked once (names as bytes),
 * each entry compared with what the host (or the image) has at that path.
 * A directory counts only when it changed itself, not because its children
 * did (overlayfs copies up every parent of a changed file).
 */
import { closeSync, lstatSync, openSync, readSync, readdirSync, readlinkSync, type Stats } from 'node:fs';
import type { Sandbox } from './sandbox.js';
import { dumpPaths, dumpTree, ownAttrs, type AttrDump } from './xattr.js';
import { FUSE_MARKERS, FUSE_OPAQUE, upperOpaqueNames } from '../marten/layers/xattrns.js';

export type Kind = 'file' | 'dir' | 'symlink' | 'fifo' | 'socket' | 'device';
export type What = 'content' | 'mode' | 'owner' | 'xattrs' | 'type' | 'opaque';

export interface Change {
  readonly status: 'A' | 'C' | 'D';
  /** the container path, bytes */
  readonly path: Buffer;
  /** the sandbox's entry's kind (for D, the host's) */
  readonly kind: Kind;
  readonly what: What[];
  /** the entry in the upper dir (absent for D) */
  readonly upper?: Buffer;
  readonly st?: Stats;
  /** the upper's user.* and security.* attributes */
  readonly attrs?: Map<string, string>;
  readonly opaque: boolean;
}

export const kindOf = (st: Stats): Kind =>
  st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : st.isFIFO() ? 'fifo' : st.isSocket() ? 'socket' : st.isFile() ? 'file' : 'device';

const SLASH = Buffer.from('/');
const isWhiteout = (st: Stats): boolean => st.isCharacterDevice() && st.rdev === 0;
export const childPath = (dir: Buffer, name: Buffer): Buffer => Buffer.concat([dir.length === 1 ? Buffer.alloc(0) : dir, SLASH, name]);

function lstatOrNull(p: Buffer): Stats | null {
  try {
    return lstatSync(p, { throwIfNoEntry: false }) ?? null;
  } catch {
    return null;
  }
}

type Dirent = { name: Buffer; isDirectory(): boolean; isSymbolicLink(): boolean; isFIFO(): boolean; isSocket(): boolean; isFile(): boolean; isCharacterDevice(): boolean };
const direntKind = (d: Dirent): Kind =>
  d.isDirectory() ? 'dir' : d.isSymbolicLink() ? 'symlink' : d.isFIFO() ? 'fifo' : d.isSocket() ? 'socket' : d.isFile() ? 'file' : 'device';

/** Same bytes in two regular files of the same size. */
function sameContent(a: Buffer, b: Buffer, size: number): boolean {
  const fa = openSync(a, 'r');
  try {
    const fb = openSync(b, 'r');
    try {
      const ba = Buffer.allocUnsafe(1 << 16);
      const bb = Buffer.allocUnsafe(1 << 16);
      for (let off = 0; off < size; ) {
        const n = readSync(fa, ba, 0, ba.length, off);
        const m = readSync(fb, bb, 0, n, off);
        if (n === 0 || m !== n || !ba.subarray(0, n).equals(bb.subarray(0, n))) return false;
        off += n;
      }
      return true;
    } finally {
      closeSync(fb);
    }
  } finally {
    closeSync(fa);
  }
}

/** What differs between an upper entry and the host's entry of the same kind (xattrs come later, in one batch). */
function differences(up: Buffer, st: Stats, low: Buffer, lst: Stats, owners: boolean): What[] {
  const what: What[] = [];
  if (st.isFile()) {
    // a copy-up keeps size and mtime: with both the same the bytes are not read
    if (st.size !== lst.size || (st.mtimeMs !== lst.mtimeMs && !sameContent(up, low, st.size))) what.push('content');
  } else if (st.isSymbolicLink()) {
    if (!readlinkSync(up, { encoding: 'buffer' }).equals(readlinkSync(low, { encoding: 'buffer' }))) what.push('content');
  } else if (st.isBlockDevice() || st.isCharacterDevice()) {
    if (st.rdev !== lst.rdev || st.isBlockDevice() !== lst.isBlockDevice()) what.push('content');
  }
  if ((st.mode & 0o7777) !== (lst.mode & 0o7777) && !st.isSymbolicLink()) what.push('mode');
  if (owners && (st.uid !== lst.uid || st.gid !== lst.gid)) what.push('owner');
  return what;
}

interface Pending {
  path: Buffer;
  upper: Buffer;
  st: Stats;
  low: Buffer;
  what: What[];
  opaque: boolean;
}

/**
 * Every change in the sandbox, sorted by path (byte order).  stats: each
 * entry's lstat (an apply needs them); a summary does without them where the
 * host has nothing to compare with (readdir's d_type gives the kind).
 */
export function scan(sb: Sandbox, { stats = true } = {}): Change[] {
  const out: Change[] = [];
  const pending: Pending[] = [];
  const hidden = (key: string): boolean => sb.hide.some((h) => key === h || key.startsWith(`${h}/`));
  for (const m of sb.mounts) {
    const attrs: AttrDump = dumpTree(m.upper);
    // the marks of the overlay that wrote this upper (root's kernel overlayfs, or a user's: userxattr or fuse-overlayfs)
    const marks = upperOpaqueNames(m.upper);
    const opaqueAt = (p: Buffer): boolean => {
      const a = attrs.get(p.toString('latin1'));
      return marks.some((n) => a?.get(n) === '0x79');
    };
    // fuse-overlayfs's own entries in a dir it made opaque: its marks, no changes
    const fuseMarked = (p: Buffer): boolean => attrs.get(p.toString('latin1'))?.get(FUSE_OPAQUE) === '0x79' && marks.includes(FUSE_OPAQUE);
    const isMarker = (name: Buffer, inFuseOpaque: boolean): boolean => inFuseOpaque && FUSE_MARKERS.includes(name.toString('latin1'));
    const others = sb.mounts.filter((o) => o !== m && o.point.length > m.point.length).map((o) => o.point.toString('latin1'));
    const walk = (upperDir: Buffer, dir: Buffer, lowers: Buffer[]): void => {
      let names: Dirent[];
      try {
        names = readdirSync(upperDir, { encoding: 'buffer', withFileTypes: true }) as unknown as Dirent[];
      } catch {
        return;
      }
      const inFuseOpaque = fuseMarked(upperDir);
      for (const d of names) {
        const name = d.name;
        if (isMarker(name, inFuseOpaque)) continue;
        const upper = Buffer.concat([upperDir, SLASH, name]);
        const path = childPath(dir, name);
        const key = path.toString('latin1');
        if (hidden(key) || others.includes(key)) continue;
        if (!stats && lowers.length === 0 && !d.isCharacterDevice() && !sb.made.has(key)) {
          // nothing on the host to compare with, and no stat wanted: an addition of the kind readdir says
          const isDir = d.isDirectory();
          out.push({ status: 'A', path, kind: direntKind(d), what: [], upper, opaque: isDir && opaqueAt(upper) });
          if (isDir) walk(upper, path, []);
          continue;
        }
        const st = lstatSync(upper);
        // the host's entry: the first layer that has one (a whiteout there hides the rest)
        let low: Buffer | null = null;
        let lst: Stats | null = null;
        for (const l of lowers) {
          const p = Buffer.concat([l, SLASH, name]);
          const s = lstatOrNull(p);
          if (!s) continue;
          if (!isWhiteout(s)) [low, lst] = [p, s];
          break;
        }
        if (isWhiteout(st)) {
          if (lst) out.push({ status: 'D', path, kind: kindOf(lst), what: [], opaque: false });
          continue;
        }
        const made = sb.made.has(key) && (st.isDirectory() || st.isSymbolicLink() || (st.isFile() && st.size === 0));
        const isDir = st.isDirectory();
        const opaque = isDir && opaqueAt(upper);
        const a = attrs.get(upper.toString('latin1'));
        if (!lst || !low) {
          if (!made) out.push({ status: 'A', path, kind: kindOf(st), what: [], upper, st, attrs: a, opaque });
          if (isDir) walk(upper, path, []);
        } else if (kindOf(st) !== kindOf(lst) || (st.isBlockDevice() !== lst.isBlockDevice())) {
          if (!made) out.push({ status: 'C', path, kind: kindOf(st), what: ['type'], upper, st, attrs: a, opaque });
          if (isDir) walk(upper, path, []);
        } else {
          const what = differences(upper, st, low, lst, !sb.rootless);
          if (opaque) what.push('opaque');
          if (!made) pending.push({ path, upper, st, low, what, opaque });
          if (isDir) {
            if (opaque) {
              // the host's entries the new directory does not hold go with the old one
              walk(upper, path, []);
              const inUpper = new Set(readdirSync(upper, { encoding: 'buffer' }).filter((n) => !isMarker(n, fuseMarked(upper))).map((n) => n.toString('latin1')));
              for (const n of readdirSync(low, { encoding: 'buffer' })) {
                if (inUpper.has(n.toString('latin1'))) continue;
                const s = lstatSync(Buffer.concat([low, SLASH, n]));
                out.push({ status: 'D', path: childPath(path, n), kind: kindOf(s), what: [], opaque: false });
              }
            } else {
              const below: Buffer[] = [];
              for (const l of lowers) {
                const s = lstatOrNull(Buffer.concat([l, SLASH, name]));
                if (!s) continue;
                if (!s.isDirectory()) break;
                below.push(Buffer.concat([l, SLASH, name]));
              }
              walk(upper, path, below);
            }
          }
        }
      }
    };
    walk(Buffer.from(m.upper), m.point, m.lowers.filter((l) => lstatOrNull(l)?.isDirectory()).map((l) => Buffer.from(l)));
    // xattrs of entries both sides have: the host's read in one batch
    const mine = pending.splice(0);
    const lowAttrs = dumpPaths(mine.map((p) => p.low));
    for (const p of mine) {
      const a = attrs.get(p.upper.toString('latin1'));
      if (ownAttrs(a) !== ownAttrs(lowAttrs.get(p.low.toString('latin1')))) p.what.push('xattrs');
      if (p.what.length > 0) out.push({ status: 'C', path: p.path, kind: kindOf(p.st), what: p.what, upper: p.upper, st: p.st, attrs: a, opaque: p.opaque });
    }
  }
  return out.sort((x, y) => Buffer.compare(x.path, y.path));
}
