/**
 * From paths the trapper saw to the entries of the bundle: each path is
 * resolved inside the root one component at a time (a link is read and
 * followed there, never by the kernel; `..` stops at the root), and every
 * link on the way, the file itself and all the directories above them are
 * entries.  Entries are root-relative byte paths; the copy is one tar pipe
 * (mode, owner, links, xattrs kept; names as bytes through --null -T).
 */
import { lstatSync, openSync, readSync, closeSync, readdirSync, writeFileSync, constants, type Stats } from 'node:fs';
import { MincError } from '../errors.js';
import { walkInRoot } from '../fs/inroot.js';
import { run } from '../marten/proc.js';

const SLASH = 0x2f;

export const key = (b: Buffer): string => b.toString('latin1');

const hostPath = (root: string, r: Buffer): Buffer => Buffer.concat([Buffer.from(root.replace(/\/+$/, '')), Buffer.from('/'), r]);

function lstatOrNull(p: Buffer): Stats | null {
  try {
    return lstatSync(p);
  } catch {
    return null;
  }
}

/** What resolving path inside root gives: the entries to copy, and the file it names (root-relative). */
export interface Resolved {
  entries: Buffer[];
  target: Buffer;
  st: Stats;
}

/** Resolve path inside root (src/fs/inroot.ts); null when it does not exist there (or loops). */
export function resolveEntries(root: string, path: Buffer): Resolved | null {
  let w;
  try {
    w = walkInRoot([root], path);
  } catch {
    return null; // a loop
  }
  if (!w) return null;
  return { entries: [...w.links, ...(w.rel.length > 0 ? [w.rel] : [])], target: w.rel, st: w.st };
}

/** Every directory above each entry, and the entries, sorted (parents first), without duplicates. */
export function withParents(entries: Iterable<Buffer>): Buffer[] {
  const all = new Map<string, Buffer>();
  for (const e of entries) {
    for (let i = 0; i < e.length; i++) if (e[i] === SLASH) all.set(key(e.subarray(0, i)), e.subarray(0, i));
    all.set(key(e), e);
  }
  return [...all.values()].filter((e) => e.length > 0).sort(Buffer.compare);
}

/** Everything below dir (root-relative), for --add of a directory: names as bytes, links not followed. */
export function walkTree(root: string, dir: Buffer, out: Buffer[], limit = 200_000): void {
  let names: Buffer[];
  try {
    names = readdirSync(hostPath(root, dir), { encoding: 'buffer' });
  } catch {
    return;
  }
  for (const n of names) {
    const r = dir.length > 0 ? Buffer.concat([dir, Buffer.from('/'), n]) : n;
    if (out.length >= limit) throw new MincError(`more than ${limit} files below /${dir.toString()}`);
    out.push(r);
    const st = lstatOrNull(hostPath(root, r));
    if (st?.isDirectory()) walkTree(root, r, out, limit);
  }
}

/** The first bytes of a regular file of the root, opened without following a link. */
export function readHead(root: string, r: Buffer, n = 65536): Buffer | null {
  let fd: number;
  try {
    fd = openSync(hostPath(root, r), constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch {
    return null;
  }
  try {
    const buf = Buffer.alloc(n);
    const got = readSync(fd, buf, 0, n, 0);
    return buf.subarray(0, got);
  } catch {
    return null;
  } finally {
    closeSync(fd);
  }
}

/** Copy entries (root-relative, parents listed before children) from root into stage: one tar pipe. */
export async function copyEntries(root: string, entries: readonly Buffer[], stage: string, listFile: string): Promise<void> {
  writeFileSync(listFile, Buffer.concat(entries.flatMap((e) => [e, Buffer.from([0])])), { mode: 0o600 });
  const x = '--xattrs --xattrs-include=*';
  const script = `set -e; tar -C "$1" --null --verbatim-files-from --no-recursion -T "$2" ${x} --numeric-owner -cf - | tar -C "$3" ${x} --numeric-owner --same-owner -xpf -`;
  try {
    await run('sh', ['-c', script, 'polecat-copy', root, listFile, stage]);
  } catch (err) {
    throw new MincError(`copying the files into the bundle: ${(err as Error).message}`, { cause: err });
  }
}
