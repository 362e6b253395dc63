/**
 * The validation of a rootless run (issue 11): a user who is not root, or
 * MINCS's --nopriv DIR.  What cannot work in a user namespace is one clear
 * line here, before anything is made.
 */
import { statSync } from 'node:fs';
import { UsageError } from '../errors.js';
import { idMap } from '../rootless/ids.js';

/** The rootless mode of a run: how its root is mounted, and its id map. */
export interface RootlessConfig {
  /** fuse-overlayfs (the host's /, a root the user does not own), else kernel overlayfs with userxattr */
  readonly fuse: boolean;
  /** ids 1.. map onto the user's subordinate ranges (unshare --map-auto) */
  readonly mapAuto: boolean;
}

export interface RootlessArgs {
  readonly usedev?: boolean;
  readonly ftrace?: string;
  readonly debugfs?: boolean;
}

/** Is this run rootless? (A user who is not root; root too with --nopriv, as MINCS.) */
export const isRootless = (nopriv: string | undefined, uid = process.getuid?.() ?? 0): boolean => uid !== 0 || nopriv !== undefined;

const owner = (dir: string): number | null => {
  try {
    return statSync(dir).uid;
  } catch {
    return null;
  }
};

/**
 * How a rootless run mounts its root: kernel overlayfs where every lower is
 * the user's own (an image of the user's store, a rootfs they unpacked);
 * fuse-overlayfs for the host's / and a root directory of other owners.
 */
export function rootlessConfig(args: RootlessArgs, rootdir: string, layers: readonly string[] | undefined, user?: { uid: number; gid: number }): RootlessConfig {
  if (args.usedev) throw new UsageError("--usedev needs root: a user namespace cannot mount the host's devtmpfs (leave it out, or run minc as root)");
  if (args.ftrace !== undefined) throw new UsageError('--ftrace needs root: tracefs is the host kernel\'s (MINCS refuses it in a non-privileged container too)');
  if (args.debugfs) throw new UsageError("--debugfs needs root: debugfs is the host kernel's");
  const map = idMap();
  if (user && (user.uid !== 0 || user.gid !== 0) && !map.mapAuto) {
    throw new UsageError(`--user ${user.uid}:${user.gid}: without subordinate ids only root (0) exists in the user namespace; give this user ranges in /etc/subuid and /etc/subgid (usermod --add-subuids 100000-165535 --add-subgids 100000-165535 USER)`);
  }
  const me = process.getuid?.() ?? 0;
  const own = (layers ?? [rootdir]).every((d) => owner(d) === me);
  return { fuse: rootdir === '/' && !layers ? true : !own, mapAuto: map.mapAuto };
}
