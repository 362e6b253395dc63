/**
 * A kept sandbox to review: a minc temp dir (-k, -t) or a store container,
 * read as data (it may have been tampered with): its settings, the upper dir
 * of each overlaid mount (docs: /work/notes/layout.md, the README's
 * "Reviewing and keeping changes"), what to compare them with, what minc
 * itself made there, and when the sandbox began.
 */
import { lstatSync, readdirSync, realpathSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import { MincError, UsageError } from '../errors.js';
import { readNoFollow } from '../fs/nofollow.js';
import { layerChain, resolveContainer } from '../marten/model.js';
import { Store, initialUserNs, readText } from '../marten/store.js';
import { checkedSettings, type Settings } from '../run/settings.js';

export interface MountUpper {
  /** the mount point, a container path ('/' for the root) */
  readonly point: Buffer;
  /** its upper dir */
  readonly upper: string;
  /** host dirs the upper is compared with, top first (the host path of the mount, or an image's layers) */
  readonly lowers: readonly Buffer[];
}

export interface Sandbox {
  readonly dir: string;
  readonly settings: Settings;
  /** where changes apply (the run's root directory); null for a store container (its changes go into an image: marten commit) */
  readonly rootdir: string | null;
  readonly mounts: readonly MountUpper[];
  /** container paths minc made for its own set-up (latin1 keys: one char a byte) */
  readonly made: ReadonlySet<string>;
  /** container paths made absent with --hide (latin1 keys) */
  readonly hide: readonly string[];
  /** ms since the epoch when the sandbox was first made */
  readonly started: number;
  /**
   * made by a rootless run (the dir is a user's, not root's): its uppers' owners are what
   * fuse-overlayfs or the user namespace made them (the user, subordinate ids), not the host's
   */
  readonly rootless: boolean;
}

const lstatOrNull = (p: string): Stats | null => {
  try {
    return lstatSync(p);
  } catch {
    return null;
  }
};

/** layout.md's mount names: bytes in [A-Za-z0-9._-] kept, every other byte %HH. */
export function decodeMountName(name: string): Buffer | null {
  if (!/^(?:[A-Za-z0-9._-]|%[0-9A-F]{2})+$/.test(name)) return null;
  const bytes: number[] = [];
  for (let i = 0; i < name.length; i++) {
    if (name[i] === '%') {
      bytes.push(parseInt(name.slice(i + 1, i + 3), 16));
      i += 2;
    } else bytes.push(name.charCodeAt(i));
  }
  return Buffer.from([0x2f, ...bytes]);
}

/** The dir DIR names: a path, else (a bare word) a container of the store. */
function locate(ref: string): { dir: string; store: Store | null } {
  const st = lstatOrNull(ref);
  if (st) {
    if (!st.isDirectory()) throw new UsageError(`'${ref}' is not a directory`);
    return { dir: realpathSync(ref), store: null };
  }
  if (ref.includes('/')) throw new UsageError(`'${ref}': no such directory`);
  const store = new Store();
  try {
    return { dir: resolveContainer(store, ref).dir, store };
  } catch (err) {
    throw new UsageError(`'${ref}': no such directory, and ${err instanceof Error ? err.message : String(err)}`);
  }
}

/** Container paths, one a line, in a file of the dir (bounded; absent = none). */
function lines(dir: string, file: string): string[] {
  const text = readNoFollow(join(dir, file), 16 << 20);
  return text === null ? [] : text.toString('latin1').split('\n').filter((l) => l.startsWith('/'));
}

export function openSandbox(ref: string): Sandbox {
  const { dir, store: byName } = locate(ref);
  let settings: Settings | null;
  try {
    settings = checkedSettings(dir);
  } catch (err) {
    throw new UsageError(`'${ref}': ${err instanceof Error ? err.message : String(err)}`);
  }
  const storage = lstatOrNull(join(dir, 'storage'));
  if (!settings || !storage?.isDirectory()) throw new UsageError(`'${ref}' is not a minc temporary directory (no settings and storage/ in it)`);
  if ((lstatSync(dir).mode & 0o022) !== 0) throw new UsageError(`'${ref}' is writable by others: refusing to use it`);
  const baseid = readText(join(dir, 'baseid'));
  let lowersOf: (point: Buffer) => Buffer[];
  let rootdir: string | null = settings.rootdir;
  if (baseid) {
    // a store container: compared with its image's layers, never applied onto them
    const store = byName ?? new Store(join(dir, '..', '..'));
    const layers = layerChain(store, baseid).map((l) => Buffer.from(join(store.image(l), 'root')));
    lowersOf = () => layers;
    rootdir = null;
  } else {
    const root = Buffer.from(settings.rootdir.replace(/\/+$/, ''));
    lowersOf = (point) => {
      const lower = Buffer.concat([root, point.length === 1 ? Buffer.alloc(0) : point]);
      return [lower.length > 0 ? lower : Buffer.from('/')];
    };
  }
  const mounts: MountUpper[] = [{ point: Buffer.from('/'), upper: join(dir, 'storage'), lowers: lowersOf(Buffer.from('/')) }];
  if (lstatOrNull(join(dir, 'mounts'))?.isDirectory()) {
    for (const name of readdirSync(join(dir, 'mounts')).sort()) {
      const point = decodeMountName(name);
      const upper = join(dir, 'mounts', name, 'upper');
      if (!point || !lstatOrNull(upper)?.isDirectory()) continue;
      mounts.push({ point, upper, lowers: lowersOf(point) });
    }
  }
  const extra = settings as Settings & { started?: unknown; hide?: unknown };
  const hide = Array.isArray(extra.hide) ? extra.hide.filter((h): h is string => typeof h === 'string').map((h) => Buffer.from(h).toString('latin1')) : [];
  // started: written by minc; a dir from before it was recorded: when its storage/ was made
  const started = typeof extra.started === 'number' ? extra.started : storage.birthtimeMs > 0 ? storage.birthtimeMs : storage.ctimeMs;
  return { dir, settings, rootdir, mounts, made: new Set(lines(dir, 'made')), hide, started, rootless: lstatSync(dir).uid !== 0 || !initialUserNs() }; // (in the user's own namespace, --summary's re-run, its dir shows as uid 0)
}

/** The sandbox's host root to apply onto; a store container has none. */
export function applyRoot(sb: Sandbox): string {
  if (sb.rootdir === null) throw new MincError(`${sb.dir} is a store container: its changes go into an image (marten commit), not onto the host`);
  const st = lstatOrNull(sb.rootdir);
  if (!st?.isDirectory()) throw new MincError(`the root directory ${sb.rootdir} of ${sb.dir} is not a directory`);
  return sb.rootdir;
}
