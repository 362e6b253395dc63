/**
 * rm -rf of a temp dir, in this process.  fs.rmSync({recursive}) loads and
 * runs node's JS rimraf (an lstat per entry, an rmdir tried on every file and
 * its thrown error caught): ~2 ms for a run's near-empty temp dir, paid at the
 * end of every run.  This walks the tree once with readdir's d_type.
 * Symlinks are removed, never followed; names stay bytes.
 */
import { readdirSync, rmdirSync, unlinkSync } from 'node:fs';

const code = (err: unknown): string | undefined => (err as NodeJS.ErrnoException | null)?.code;

export function removeTree(path: string | Buffer): void {
  let entries;
  try {
    // names as bytes: a name that is not UTF-8 (made in the container) is used again exactly as it is
    entries = readdirSync(path, { withFileTypes: true, encoding: 'buffer' });
  } catch (err) {
    if (code(err) === 'ENOENT') return;
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
