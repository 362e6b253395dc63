/**
 * Removing a tree of the store.  Root removes anything.  A user's container
 * may hold files of the user's subordinate ids (a chown inside the container,
 * a copy-up by fuse-overlayfs), in directories the user may not write: where
 * the user's own removal stops at EACCES/EPERM, it is done again in a user
 * namespace with the run's id map (src/run/rmtree.ts, as `podman unshare rm`).
 */
export { removeTreeAsUser as removeAll } from '../run/rmtree.js';
