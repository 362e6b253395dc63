/**
 * Files a container root names, read from the host side (the user's passwd
 * entry for --user, say): the path is resolved inside the root, one component
 * at a time, a symlink read and followed there and never by the kernel (an
 * absolute target starts again at the root, `..` stops there: runc's
 * securejoin rules), across the layers of an overlay (upper first, a
 * whiteout hides what is below).  Names stay bytes.
 */
import { lstatSync, readlinkSync, type Stats } from 'node:fs';
import { MincError } from '../errors.js';
import { readNoFollow } from './nofollow.js';

/** Links followed before giving up (the kernel's MAXSYMLINKS). */
const MAX_LINKS = 40;

const SLASH = 0x2f;

/** The components of a path (bytes), without empty ones and '.'. */
export function components(path: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let start = 0;
  for (let i = 0; i <= path.length; i++) {
    if (i === path.length || path[i] === SLASH) {
      const c = path.subarray(start, i);
      if (c.length > 0 && !(c.length === 1 && c[0] === 0x2e)) out.push(c);
      start = i + 1;
    }
  }
  return out;
}

export const join = (...parts: Buffer[]): Buffer => Buffer.concat(parts.flatMap((p, i) => (i === 0 ? [p] : [Buffer.from('/'), p])));

function lstatOrNull(p: Buffer): Stats | null {
  try {
    return lstatSync(p);
  } catch {
    return null;
  }
}

/** overlayfs's whiteout: a character device 0/0. */
const isWhiteout = (st: Stats): boolean => st.isCharacterDevice() && st.rdev === 0;

/** The topmost layer's entry at rel, or null where none has one (or a whiteout hides it). */
function lookup(layers: readonly Buffer[], rel: Buffer[]): { path: Buffer; st: Stats } | null {
  for (const layer of layers) {
    const path = join(layer, ...rel);
    const st = lstatOrNull(path);
    if (!st) continue;
    if (isWhiteout(st)) return null;
    return { path, st };
  }
  return null;
}

/** What a path resolves to inside a root: the host path, the root-relative path, the links passed on the way (root-relative), and what is there. */
export interface InRoot {
  readonly host: Buffer;
  readonly rel: Buffer;
  readonly links: Buffer[];
  readonly st: Stats;
}

/**
 * Resolve path inside the root made of layers (top first), null when it does
 * not exist there.  Throws on a link loop.
 */
export function walkInRoot(layers: readonly string[], path: string | Buffer): InRoot | null {
  // (no trailing slash: a root of / is '', so that paths come out as the kernel names them)
  const roots = layers.map((l) => Buffer.from(l.replace(/\/+$/, '')));
  const shown = String(path);
  let todo = components(Buffer.from(path));
  const at: Buffer[] = [];
  const links: Buffer[] = [];
  let n = 0;
  while (todo.length > 0) {
    const c = todo.shift()!;
    if (c.length === 2 && c[0] === 0x2e && c[1] === 0x2e) {
      at.pop();
      continue;
    }
    const found = lookup(roots, [...at, c]);
    if (!found) return null;
    if (found.st.isSymbolicLink()) {
      if (++n > MAX_LINKS) throw new MincError(`${shown}: too many levels of symbolic links in the root directory`);
      links.push(join(...at, c));
      const target = readlinkSync(found.path, { encoding: 'buffer' });
      if (target[0] === SLASH) at.length = 0;
      todo = [...components(target), ...todo];
      continue;
    }
    if (todo.length > 0 && !found.st.isDirectory()) return null;
    at.push(c);
  }
  if (at.length === 0) {
    const st = lstatOrNull(Buffer.from(layers[0] ?? '/'));
    return st ? { host: Buffer.from(layers[0] ?? '/'), rel: Buffer.alloc(0), links, st } : null;
  }
  const found = lookup(roots, at);
  return found ? { host: found.path, rel: join(...at), links, st: found.st } : null;
}

/** The host path of what the container sees at path (walkInRoot), or null. */
export const resolveInRoot = (layers: readonly string[], path: string | Buffer): Buffer | null => walkInRoot(layers, path)?.host ?? null;

/** Bytes read at most from a file a root names, unless the caller says otherwise. */
export const MAX_ROOT_FILE = 4 << 20;

/**
 * The content of path inside the root, or null when it is absent: a regular
 * file only (a device, fifo or directory there is an error, so nothing is
 * read forever), at most limit bytes, opened without following a link and
 * checked to be the file resolved (a swap meanwhile is an error).
 */
export function readInRoot(layers: readonly string[], path: string, limit = MAX_ROOT_FILE): Buffer | null {
  const host = resolveInRoot(layers, path);
  if (!host) return null;
  try {
    return readNoFollow(host, limit, (fd) => {
      if (!readlinkSync(`/proc/self/fd/${fd}`, { encoding: 'buffer' }).equals(host)) throw new MincError('changed while it was read');
    });
  } catch (err) {
    const why = err instanceof Error ? err.message.replace(host.toString(), '').replace(/^ /, '') : String(err);
    throw new MincError(`${path} in the root directory: ${why}`);
  }
}
