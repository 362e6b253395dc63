/**
 * -t DIR: a temp dir to reuse is one minc made (it holds settings), or a new
 * path (or an empty directory) minc makes its own.  A kept dir is data that
 * may have been tampered with: it must be this user's, writable by no one
 * else, and hold no symlink where minc reads or writes a file; its path goes
 * into overlayfs's options, which cannot take ',', ':' or '\'.
 */
import { lstatSync, readdirSync, realpathSync, type Stats } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { UsageError } from '../errors.js';

export interface Reuse {
  /** the directory, its parent's symlinks resolved */
  readonly dir: string;
  /** nothing of minc's is in it yet: made (mode 0700) by prepareTempdir */
  readonly fresh: boolean;
}

function lstatOrNull(p: string): Stats | null {
  try {
    return lstatSync(p);
  } catch {
    return null;
  }
}

function checkPath(shown: string, path: string): void {
  if (/\n/.test(path)) throw new UsageError(`--tempdir '${shown.replace(/\n/g, '\\n')}': a path with a newline cannot be used`);
  if (/[,:\\]/.test(path)) throw new UsageError(`--tempdir '${shown}': overlayfs cannot take a path with ',', ':' or '\\'`);
}

/**
 * Check -t PATH (the validation pass: nothing is made here).  container: a
 * container of the store (root's own, made by marten), which need not have
 * run yet.
 */
export function checkTempdir(path: string, { container = false, uid = process.getuid?.() ?? 0 } = {}): Reuse {
  checkPath(path, path);
  const st = lstatOrNull(path);
  if (!st) {
    const parent = lstatOrNull(dirname(resolve(path))) ? realpathSync(dirname(resolve(path))) : null;
    if (!parent || !lstatSync(parent).isDirectory()) throw new UsageError(`--tempdir '${path}': no such directory, and its parent does not exist to make it in`);
    const dir = join(parent, basename(resolve(path)));
    checkPath(path, dir);
    return { dir, fresh: true };
  }
  const dir = realpathSync(path);
  checkPath(path, dir);
  if (dir === '/') throw new UsageError(`--tempdir '${path}': / is not a temporary directory`);
  const real = lstatSync(dir);
  if (!real.isDirectory()) throw new UsageError(`--tempdir '${path}': not a directory`);
  if (real.uid !== uid) throw new UsageError(`--tempdir '${path}' is owned by uid ${real.uid}, not by you: refusing to use it`);
  if ((real.mode & 0o022) !== 0) {
    throw new UsageError(`--tempdir '${path}' is writable by others (mode ${(real.mode & 0o7777).toString(8).padStart(4, '0')}): refusing to use it`);
  }
  const names = readdirSync(dir, { encoding: 'buffer' });
  if (names.length === 0) return { dir, fresh: true };
  if (!container && !names.some((n) => n.toString() === 'settings')) {
    throw new UsageError(`--tempdir '${path}' is not a minc temporary directory (it has no settings file): give a new path to make one`);
  }
  for (const n of names) {
    if (lstatSync(Buffer.concat([Buffer.from(`${dir}/`), n])).isSymbolicLink()) {
      throw new UsageError(`--tempdir '${path}': its entry '${n.toString()}' is a symbolic link: refusing to use it`);
    }
  }
  return { dir, fresh: false };
}
