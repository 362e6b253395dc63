/**
 * minc's side of the store (MINCS's minc-farm fork/imagestack/dir):
 * `minc -r IMAGE` runs a new container of an image, `minc -t UUID|NAME`
 * an existing container again.  On minc's hot path: node's fs only (no
 * execa, no proper-lockfile; the lock here is proper-lockfile's own mkdir
 * protocol, taken synchronously).
 */
import { existsSync, mkdirSync, readFileSync, realpathSync, renameSync, rmdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MincError, UsageError } from '../errors.js';
import { imageConfig, isPacked, layerChain, resolveContainer, resolveImage, shortId } from './model.js';
import { Store } from './store.js';

export interface ImageRun {
  /** the image the container is (or will be) based on */
  readonly id: string;
  /** an existing container (-t UUID|NAME); else minc forks a new one */
  readonly container?: string;
  /** layer directories, top first: the overlay's lowerdirs */
  readonly layers: readonly string[];
  /** the command an image gives: Entrypoint + Cmd */
  readonly command?: readonly string[];
  readonly env: readonly string[];
  readonly workdir?: string;
  readonly user?: string;
  /** the container's name (marten rename), its hostname */
  readonly name?: string;
  /** the image config's architecture (OCI names: amd64, arm64, ...) */
  readonly architecture?: string;
}

const isDir = (p: string): boolean => {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
};

/** Not a path at all (a file or directory that is there stays minc's to check). */
const absent = (p: string): boolean => {
  try {
    statSync(p);
    return false;
  } catch {
    return true;
  }
};

function runOf(store: Store, imageId: string, container?: string): ImageRun {
  const layers = layerChain(store, imageId).map((l) => join(store.image(l), 'root'));
  for (const l of layers) {
    if (/[,:\\]/.test(l)) throw new UsageError(`image layer ${l}: overlayfs cannot take a path with ',', ':' or '\\' (move MINCS_DIR)`);
  }
  const ic = imageConfig(store, imageId);
  const c = ic.config ?? {};
  const command = [...(c.Entrypoint ?? []), ...(c.Cmd ?? [])];
  return {
    id: imageId,
    ...(container ? { container } : {}),
    layers,
    ...(command.length > 0 ? { command } : {}),
    env: c.Env ?? [],
    ...(c.WorkingDir ? { workdir: c.WorkingDir } : {}),
    ...(c.User ? { user: c.User } : {}),
    ...(ic.architecture ? { architecture: ic.architecture } : {}),
  };
}

/**
 * A pulled image's layers are unpacked on first use: `marten unpack ID` (a
 * child, so minc's own start stays free of marten's modules), which unpacks
 * into staging and renames into place under the store's lock.
 */
function unpackIfPacked(store: Store, id: string): void {
  let chain: string[];
  try {
    chain = layerChain(store, id);
  } catch {
    return; // runOf says what is wrong
  }
  if (!chain.some((l) => isPacked(store, l))) return;
  const marten = ['../bin/marten', '../../bin/marten'].map((p) => fileURLToPath(new URL(p, import.meta.url))).find((p) => existsSync(p));
  if (!marten) throw new MincError(`image ${shortId(id)} is not unpacked yet and bin/marten is not found to unpack it`);
  const { spawnSync } = process.getBuiltinModule('node:child_process');
  const r = spawnSync(process.execPath, [marten, 'unpack', id], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, MINCS_DIR: store.dir } });
  if (r.status !== 0) {
    const said = (r.stderr?.toString() ?? '').trim().split('\n').filter(Boolean).at(-1)?.replace(/^marten: /, '');
    throw new MincError(said || `marten unpack ${shortId(id)}: ${r.error?.message ?? `status ${r.status ?? r.signal}`}`);
  }
}

/**
 * What -r / -t name in the store, or null when they name paths (or nothing).
 * -t naming no path is a container; -r naming no path is an image.
 */
export function imageRun(rootdir: string | undefined, tempdir: string | undefined): ImageRun | null {
  const wrap = <T>(opt: string, ref: string, fn: () => T, hint = ''): T => {
    try {
      return fn();
    } catch (err) {
      throw new UsageError(`${opt} '${ref}': no such directory, and ${err instanceof Error ? err.message : String(err)}${hint}`);
    }
  };
  // -t: a path with a slash is a temp dir (made if new); a bare word that is no directory here names a container
  if (tempdir !== undefined && absent(tempdir) && !tempdir.includes('/')) {
    const store = new Store();
    const c = wrap('--tempdir', tempdir, () => resolveContainer(store, tempdir), ` (a new temporary directory here: -t ./${tempdir})`);
    if (!c.baseid) throw new UsageError(`--tempdir '${tempdir}': container ${shortId(c.id)} has no image`);
    if (rootdir !== undefined) throw new UsageError(`--tempdir '${tempdir}' names a container: its image is fixed, drop --rootdir`);
    unpackIfPacked(store, c.baseid);
    return { ...wrap('--tempdir', tempdir, () => runOf(store, c.baseid!, c.dir)), ...(c.name ? { name: c.name } : {}) };
  }
  if (rootdir !== undefined && absent(rootdir)) {
    const store = new Store();
    const img = wrap('--rootdir', rootdir, () => resolveImage(store, rootdir));
    unpackIfPacked(store, img.id);
    return wrap('--rootdir', rootdir, () => runOf(store, img.id));
  }
  return null;
}

/** proper-lockfile's lock (a directory), taken synchronously; waits up to 30 s, breaks a lock older than 20 s. */
function lockStoreSync(store: Store): () => void {
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      mkdirSync(store.lockPath);
      return () => rmdirSync(store.lockPath);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      try {
        if (Date.now() - statSync(store.lockPath).mtimeMs > 20_000) rmdirSync(store.lockPath);
      } catch {
        /* released meanwhile */
      }
      if (Date.now() > deadline) throw new MincError(`the store ${store.dir} stays locked (${store.lockPath})`);
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
    }
  }
}

/**
 * Hold image run.id for a run outside the store (`minc --rm -r IMAGE`: its
 * files in a temp dir on a tmpfs, not in containers/): under the store's
 * lock, the image is checked to be there and record(store's real path)
 * writes the run's settings naming it, so a marten rmi or prune, which takes
 * the lock and then looks for such runs (src/marten/runs.ts), either comes
 * first (and the run fails: the image was removed) or sees it.
 */
export function holdImage(run: ImageRun, record: (store: string) => void): void {
  const store = new Store();
  const unlock = lockStoreSync(store);
  try {
    if (!isDir(store.image(run.id))) throw new MincError(`image ${shortId(run.id)} was removed`);
    record(realpathSync(store.dir));
  } finally {
    unlock();
  }
}

/** A new container of image id (MINCS's minc-farm fork): containers/<uuid>/ with baseid (the caller says its short id). */
export function forkContainer(run: ImageRun, name?: string): string {
  const store = new Store().ensure();
  // 256 random bits from the kernel's uuid source (node:crypto costs ~8 ms to load on minc's hot path)
  const id = Array.from({ length: 2 }, () => readFileSync('/proc/sys/kernel/random/uuid', 'utf8').trim().replace(/-/g, '')).join('');
  const staging = join(store.tmp, `${process.pid}-fork-${id.slice(0, 8)}`);
  mkdirSync(staging);
  try {
    writeFileSync(join(staging, 'baseid'), `${run.id}\n`);
    if (name) writeFileSync(join(staging, 'name'), `${name}\n`);
    const unlock = lockStoreSync(store);
    try {
      if (!isDir(store.image(run.id))) throw new MincError(`image ${shortId(run.id)} was removed`);
      renameSync(staging, store.container(id)); // fails if the id were taken
    } finally {
      unlock();
    }
  } catch (err) {
    rmSync(staging, { recursive: true, force: true });
    throw err;
  }
  return store.container(id);
}
