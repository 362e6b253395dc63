/**
 * rm -rf of a temp dir, in this process.  fs.rmSync({recursive}) loads and
 * runs node's JS rimraf (an lstat per entry, an rmdir tried on every file and
 * its thrown error caught): ~2 ms for a run's near-empty temp dir, paid at the
 * end of every run.  This walks the tree once with readdir's d_type.
 * Symlinks are removed, never followed.
 */
import { readdirSync, rmdirSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';

const code = (err: unknown): string | undefined => (err as NodeJS.ErrnoException | null)?.code;

export function removeTree(path: string): void {
  let entries;
  try {
    entries = readdirSync(path, { withFileTypes: true });
  } catch (err) {
    if (code(err) === 'ENOENT') return;
    if (code(err) !== 'ENOTDIR') throw err;
    unlinkSync(path);
    return;
  }
  for (const e of entries) {
    const p = join(path, e.name);
    if (e.isDirectory()) removeTree(p);
    else unlinkSync(p);
  }
  rmdirSync(path);
}
