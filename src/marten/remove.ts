/**
 * Removing a tree of the store.  Root removes anything.  A user's container
 * may hold files of the user's subordinate ids (a chown inside the container,
 * a copy-up by fuse-overlayfs), in directories the user may not write: where
 * the user's own removal stops at EACCES/EPERM, it is done again in a user
 * namespace with the run's id map (src/run/rmtree.ts, as `podman unshare rm`).
 */
import { rmSync } from 'node:fs';
import { removeTreeAsUser } from '../run/rmtree.js';
import { hostRoot } from './store.js';

export function removeAll(path: string | Buffer): void {
  try {
    rmSync(path, { recursive: true, force: true });
    return;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? '';
    if (hostRoot() || !['EACCES', 'EPERM'].includes(code)) throw err;
    // (a name that is not UTF-8 cannot travel in argv as a string: the first error stands)
    const text = typeof path === 'string' ? path : path.toString();
    if (typeof path !== 'string' && !Buffer.from(text).equals(path)) throw err;
    removeTreeAsUser(text);
  }
}
