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
import { euid } from '../store.js';

export type OverlayNs = 'trusted' | 'user';

/** The form this marten writes: root's, else the user's. */
export const ownNs = (): OverlayNs => (euid() === 0 ? 'trusted' : 'user');

export const opaqueName = (ns: OverlayNs): string => `${ns}.overlay.opaque`;

/**
 * overlayfs's own xattrs a layer tar must never bring in as plain user.*
 * ones: kernel overlayfs with userxattr would obey them (opaque, redirect,
 * metacopy), and so would fuse-overlayfs its user.fuseoverlayfs.* ones.
 */
export const FOREIGN_OVERLAY_XATTRS = ['--xattrs-exclude=user.overlay.*', '--xattrs-exclude=user.fuseoverlayfs.*'];
