/**
 * rm -rf of a temp dir, in this process.  fs.rmSync({recursive}) loads and
 * runs node's JS rimraf (an lstat per entry, an rmdir tried on every file and
 * its thrown error caught): ~2 ms for a run's near-empty temp dir, paid at the
 * end of every run.  This walks the tree once with readdir's d_type.
 * Symlinks are removed, never followed; names stay bytes.
 */
import { chmodSync, lstatSync, readdirSync, rmdirSync, unlinkSync } from 'node:fs';
import { MincError } from '../errors.js';
import { findTool } from '../host/tools.js';
import { idMap, mapOptions } from '../rootless/ids.js';

const code = (err: unknown): string | undefined => (err as NodeJS.ErrnoException | null)?.code;

export function removeTree(path: string | Buffer, opened = false): void {
  let entries;
  try {
    // names as bytes: a name that is not UTF-8 (made in the container) is used again exactly as it is
    entries = readdirSync(path, { withFileTypes: true, encoding: 'buffer' });
  } catch (err) {
    if (code(err) === 'ENOENT') return;
    // a user's own directory closed to them (overlayfs's work/work is made mode 000): opened, once
    if (code(err) === 'EACCES' && !opened && openOwnDir(path)) return removeTree(path, true);
    if (code(err) !== 'ENOTDIR') throw err;
    unlinkSync(path);
    return;
  }
  const dir = Buffer.concat([Buffer.from(path), Buffer.from('/')]);
  for (const e of entries) {
    const p = Buffer.concat([dir, e.name as unknown as Buffer]);
    if (e.isDirectory()) removeTree(p);
    else unlinkSync(p);
  }
  rmdirSync(path);
}

/** chmod 0700 a directory of this (non-root) user's that is closed to them; false where it is not theirs. */
function openOwnDir(path: string | Buffer): boolean {
  const uid = process.getuid?.() ?? 0;
  if (uid === 0) return false;
  try {
    const st = lstatSync(path);
    if (!st.isDirectory() || st.uid !== uid) return false;
    chmodSync(path, 0o700);
    return true;
  } catch {
    return false;
  }
}

/**
 * A rootless run's tree: its upper dir may hold files of the user's
 * subordinate ids (a chown inside, a copy-up of a root-owned file by
 * fuse-overlayfs) and directories without write permission, which the user
 * cannot remove as themselves.  Where removal as the user stops at EACCES or
 * EPERM it is done again inside a user namespace with the run's id map,
 * where the user is root over those ids (as `podman unshare rm`).
 */
export function removeTreeAsUser(tree: string | Buffer): void {
  try {
    removeTree(tree);
    return;
  } catch (err) {
    if ((process.getuid?.() ?? 0) === 0 || !['EACCES', 'EPERM'].includes(code(err) ?? '')) throw err;
    // (a name that is not UTF-8 cannot travel in argv as a string: the first error stands)
    if (typeof tree !== 'string' && !Buffer.from(tree.toString()).equals(tree)) throw err;
  }
  const path = tree.toString();
  const unshare = findTool('unshare');
  const rm = findTool('rm');
  if (!unshare || !rm) throw new MincError(`cannot remove ${path}: files there belong to your subordinate ids, and unshare or rm is missing`);
  // (child_process only here: the common removal above needs none)
  const { spawnSync } = process.getBuiltinModule('node:child_process');
  const r = spawnSync(unshare, [...mapOptions(idMap()), '--', rm, '-rf', '--one-file-system', '--', path], { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  if (r.status !== 0) {
    throw new MincError(`cannot remove ${path} in a user namespace: ${(r.stderr || r.error?.message || `status ${r.status}`).trim().split('\n')[0]}`);
  }
}
