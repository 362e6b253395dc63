/**
 * Which xattr namespace a layer's overlayfs marks (opaque dirs) live in.
 * Root's layers use trusted.overlay.* (kernel overlayfs's own); a user cannot
 * set trusted.* (it needs CAP_SYS_ADMIN), so a user's layers carry
 * user.overlay.* instead, which kernel overlayfs reads with its `userxattr`
 * option (the rootless run mounts image layers so).  layer.json records
 * `"overlay": "user"` for such a layer; a layer without it is root's form.
 * Whiteouts are 0/0 character devices in both: any user may make those
 * (Linux 5.8).
 */
import { lstatSync } from 'node:fs';
import { hostRoot, initialUserNs } from '../store.js';

export type OverlayNs = 'trusted' | 'user';

/** The form this marten writes: root's, else the user's. */
export const ownNs = (): OverlayNs => (hostRoot() ? 'trusted' : 'user');

export const opaqueName = (ns: OverlayNs): string => `${ns}.overlay.opaque`;

/**
 * overlayfs's own xattrs a layer tar must never bring in as plain user.*
 * ones: kernel overlayfs with userxattr would obey them (opaque, redirect,
 * metacopy), and so would fuse-overlayfs its user.fuseoverlayfs.* ones.
 */
export const FOREIGN_OVERLAY_XATTRS = ['--xattrs-exclude=user.overlay.*', '--xattrs-exclude=user.fuseoverlayfs.*'];

/** fuse-overlayfs's opaque mark; in a user namespace it also leaves these two entries in an opaque dir (an empty file and a 0/0 whiteout). */
export const FUSE_OPAQUE = 'user.fuseoverlayfs.opaque';
export const FUSE_MARKERS = ['.wh..wh..opq', '.wh..opq'];

/**
 * The opaque marks an overlay may have written in the upper dir upper, told by
 * its owner: root's runs use kernel overlayfs (trusted.overlay.opaque); a
 * user's use kernel overlayfs with userxattr (user.overlay.opaque) or
 * fuse-overlayfs (user.fuseoverlayfs.opaque).  A root run's container can set
 * user.* xattrs in its upper as plain ones: those are no marks there.
 */
export function upperOpaqueNames(upper: string | Buffer): string[] {
  let uid: number;
  try {
    uid = lstatSync(upper).uid;
  } catch {
    uid = -1;
  }
  // (in a user namespace of the user's, the user's own dir shows as uid 0)
  return uid === 0 && initialUserNs() ? [opaqueName('trusted')] : [opaqueName('user'), FUSE_OPAQUE];
}
