/**
 * Copying a layer directory (a container's overlay upper dir) as GNU tar
 * walks it: `tar -c` never follows a symlink in the tree it reads (it opens
 * each entry relative to its parent's fd), so a container that swaps a dir
 * for a link to a host dir gets the link, not the host's files (cp -a reads
 * through it if the swap lands between its lstat and its open).  Names stay
 * bytes; whiteouts (0/0 devices) and overlayfs xattrs are kept.
 */
import { mkdir } from 'node:fs/promises';
import { withContext } from '../../errors.js';
import { childStage } from './unpack.js';

const XATTRS = ['--xattrs', '--xattrs-include=trusted.overlay.*', '--xattrs-include=security.capability', '--xattrs-include=user.*'];

export async function copyTree(src: string, dest: string): Promise<void> {
  await mkdir(dest, { recursive: true, mode: 0o700 });
  const reader = childStage('tar', ['-C', src, ...XATTRS, '--numeric-owner', '-cf', '-', '.'], 'pipe');
  const writer = childStage('tar', ['-C', dest, '-xf', '-', '--numeric-owner', '--same-owner', '--same-permissions', ...XATTRS], 'ignore');
  reader.proc.stdin!.end();
  reader.proc.stdout!.pipe(writer.proc.stdin!);
  const [r, w] = await Promise.allSettled([reader.done, writer.done]);
  if (r.status === 'rejected') throw withContext(`reading ${src}`, r.reason);
  if (w.status === 'rejected') throw withContext(`writing ${dest}`, w.reason);
}
