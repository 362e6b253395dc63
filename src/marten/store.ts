/**
 * The image and container store under $MINCS_DIR (MINCS's layout):
 *   images/<id>/     root/ (one layer, overlayfs form), baseid, name,
 *                    layer.json (digests), config.json (OCI image config)
 *   containers/<id>/ root/ storage/ work/ baseid name utsname pid (+ minc's temp dir files)
 *   blobs/sha256/<hex>  compressed layers, configs and manifests by digest
 *   tmp/<pid>-<rand>/   staging: everything is built here, then renamed into place
 *   lock                taken by every change (proper-lockfile)
 * The store and these dirs are 0700: images keep their setuid-root files and
 * device nodes (as they must, for root's containers), and no other user may
 * reach them (CVE-2021-41091's class).  A store made more open (by an older
 * marten, or by hand) is closed again whenever it is opened.
 */
import { chmodSync, existsSync, lstatSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { userInfo } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { MincError } from '../errors.js';
import { initialUserNs } from '../rootless/ids.js';

export { initialUserNs };

export const CONF_FILE = '/etc/mincs.conf';
export const DEFAULT_DIR = '/var/lib/mincs';

/** The euid (root when the platform has none). */
export const euid = (): number => process.geteuid?.() ?? 0;

/**
 * Root of the host, not a user who is root in a user namespace of their own
 * (marten re-runs itself so to read a rootless container's upper dir): only
 * the host's root keeps owners and writes trusted.* marks.
 */
export const hostRoot = (): boolean => euid() === 0 && initialUserNs();

/**
 * A user's own store: $XDG_DATA_HOME/mincs, else ~/.local/share/mincs (as
 * podman keeps ~/.local/share/containers).  A relative XDG_DATA_HOME is
 * ignored, as the XDG spec says.
 */
export function userStoreDir(env: NodeJS.ProcessEnv = process.env): string {
  const data = env.XDG_DATA_HOME && isAbsolute(env.XDG_DATA_HOME) ? env.XDG_DATA_HOME : null;
  if (data) return join(data, 'mincs');
  const home = env.HOME && isAbsolute(env.HOME) ? env.HOME : userInfo().homedir;
  return join(home, '.local', 'share', 'mincs');
}

/**
 * MINCS_DIR from the environment, else (root) MINCS_DIR= in /etc/mincs.conf,
 * else /var/lib/mincs for root and the user's own store for anyone else:
 * root's config never steers a user into root's store.
 */
export function storeDir(env: NodeJS.ProcessEnv = process.env, conf = CONF_FILE, uid = euid()): string {
  if (env.MINCS_DIR) return env.MINCS_DIR;
  if (uid !== 0) return userStoreDir(env);
  try {
    for (const line of readFileSync(conf, 'utf8').split('\n')) {
      const m = /^\s*(?:export\s+)?MINCS_DIR=(?:"([^"]*)"|'([^']*)'|(\S*))/.exec(line);
      if (m) return m[1] ?? m[2] ?? m[3] ?? DEFAULT_DIR;
    }
  } catch {
    /* no config file */
  }
  return DEFAULT_DIR;
}

export class Store {
  readonly dir: string;
  constructor(dir = storeDir()) {
    this.dir = dir;
    this.checkOwner();
    this.secure();
  }
  /**
   * A store is its owner's alone: another user's (root's included) is refused
   * rather than read as empty, and root does not use a user's (whose owner
   * could swap its entries under root's feet).
   */
  private checkOwner(): void {
    let st;
    try {
      st = statSync(this.dir);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return; // made (as ours) when first written
      throw new MincError(`the store ${this.dir}: ${code === 'EACCES' ? 'permission denied (another user\'s store?)' : (err as Error).message}`);
    }
    const me = euid();
    if (st.uid !== me) throw new MincError(`the store ${this.dir} belongs to uid ${st.uid}, not to you (uid ${me}): each user has a store of their own (MINCS_DIR)`);
  }
  /** The top dirs, closed to other users. */
  private get tops(): string[] {
    return [this.dir, this.images, this.containers, join(this.dir, 'blobs'), this.blobs, this.tmp];
  }
  /**
   * Make the store's dirs that exist 0700 (not following a symlink in the
   * store, the top itself aside).  One already 0700 is left alone: a chmod
   * writes the inode (its ctime) even when the mode stays, a journal entry
   * on a disk, and minc -r opens the store on every run.
   */
  secure(): void {
    for (const d of this.tops) {
      try {
        const st = d === this.dir ? statSync(d) : lstatSync(d);
        if (!st.isDirectory() || (st.mode & 0o7777) === 0o700) continue;
        chmodSync(d, 0o700);
      } catch {
        /* not made yet */
      }
    }
  }
  get images(): string {
    return join(this.dir, 'images');
  }
  get containers(): string {
    return join(this.dir, 'containers');
  }
  get blobs(): string {
    return join(this.dir, 'blobs', 'sha256');
  }
  get tmp(): string {
    return join(this.dir, 'tmp');
  }
  get lockPath(): string {
    return join(this.dir, 'lock');
  }
  image(id: string): string {
    return join(this.images, id);
  }
  container(id: string): string {
    return join(this.containers, id);
  }
  /** path of a blob by digest (sha256:<hex>) */
  blob(digest: string): string {
    return join(this.blobs, digestHex(digest));
  }
  /** The image (layer) is there: unpacked (root/) or packed (its layer.json names a stored blob, unpacked on first use). */
  hasImageDir(id: string): boolean {
    return existsSync(join(this.image(id), 'root')) || existsSync(join(this.image(id), 'layer.json'));
  }
  hasBlob(digest: string): boolean {
    return existsSync(this.blob(digest));
  }
  /** Make the layout (a no-op once made). */
  ensure(): this {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    for (const d of this.tops) mkdirSync(d, { recursive: true, mode: 0o700 });
    this.secure();
    return this;
  }
  /** Read only the store: does it exist at all? */
  exists(): boolean {
    return existsSync(this.images);
  }
}

export function digestHex(digest: string): string {
  const m = /^sha256:([0-9a-f]{64})$/.exec(digest);
  if (!m) throw new MincError(`unsupported digest '${String(digest).slice(0, 80)}' (sha256:<64 hex> only)`);
  return m[1]!;
}

/** Read a small text file, trimmed; null if absent. */
export function readText(path: string): string | null {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return null;
  }
}

export function readJson<T>(path: string): T | null {
  const t = readText(path);
  return t === null ? null : (JSON.parse(t) as T);
}
