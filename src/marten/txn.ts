/**
 * Changing the store safely: a lock (proper-lockfile) around every change, and
 * staging directories under tmp/ that are renamed into place only when
 * complete, and removed when a run fails or is interrupted.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { removeAll } from './remove.js';
import { join } from 'node:path';
import lockfile from 'proper-lockfile';
import { dirSync } from 'tmp-promise';
import { withContext } from '../errors.js';
import type { Store } from './store.js';

const staged = new Set<string>();
const onStop = new Set<() => void>();

/** Run fn too if marten is interrupted (a frozen container is thawed); returns the unregister function. */
export function onInterrupt(fn: () => void): () => void {
  installHandlers();
  onStop.add(fn);
  return () => void onStop.delete(fn);
}
let handlersInstalled = false;

/** Staging dirs go away on SIGINT/SIGTERM/SIGHUP too: an interrupted pull leaves nothing. */
function installHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => {
      for (const fn of onStop) fn();
      for (const d of staged) removeAll(d);
      process.stderr.write(`marten: interrupted (${sig}); nothing was added to the store\n`);
      process.exit(128 + ({ SIGINT: 2, SIGTERM: 15, SIGHUP: 1 } as const)[sig]);
    });
  }
}

/** A new staging dir tmp/<pid>-... (tmp-promise; prune removes those of dead processes). */
export function stagingDir(store: Store): { dir: string; done: () => void } {
  installHandlers();
  store.ensure();
  const dir = dirSync({ tmpdir: store.tmp, prefix: String(process.pid) }).name; // tmp/<pid>-<pid>-XXXXXXXXXXXX
  staged.add(dir);
  return {
    dir,
    done: () => {
      removeAll(dir);
      staged.delete(dir);
    },
  };
}

/** Run fn with staging, always removing the staging dir after. */
export async function withStaging<T>(store: Store, fn: (dir: string) => Promise<T>): Promise<T> {
  const s = stagingDir(store);
  try {
    return await fn(s.dir);
  } finally {
    s.done();
  }
}

/** Run fn holding the store's lock (waits for other marten/minc runs). */
export async function withLock<T>(store: Store, fn: () => T | Promise<T>): Promise<T> {
  store.ensure();
  let release: () => Promise<void>;
  try {
    release = await lockfile.lock(store.dir, {
      lockfilePath: store.lockPath,
      stale: 20_000,
      retries: { retries: 600, factor: 1.2, minTimeout: 20, maxTimeout: 200 },
    });
  } catch (err) {
    throw withContext(`locking the store ${store.dir}`, err);
  }
  try {
    return await fn();
  } finally {
    await release().catch(() => undefined);
  }
}

/** A fresh random 64-hex id (MINCS's container/image UUID). */
export const randomId = (): string => randomBytes(32).toString('hex');

/** Write a file atomically (temp file beside it, then rename). */
export function writeAtomic(path: string, data: string | Buffer): void {
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  writeFileSync(tmp, data, { flag: 'wx' });
  renameSync(tmp, path);
}

/** Move a complete directory into place; fails if the target exists. */
export function moveIntoPlace(from: string, to: string): void {
  mkdirSync(join(to, '..'), { recursive: true });
  renameSync(from, to);
}
