/** marten rm, rmi, rename, tag|renamei: small changes to the store, each under the lock. */
import { renameSync } from 'node:fs';
import { removeAll } from './remove.js';
import { basename, join } from 'node:path';
import { MincError } from '../errors.js';
import { mountsBelow } from '../run/tempdir.js';
import { checkName, setImageName } from './install.js';
import { dependents, listContainers, readContainer, readImage, resolveContainer, resolveImage, shortId, type ImageEntry } from './model.js';
import { liveRuns } from './runs.js';
import type { Store } from './store.js';
import { withLock, writeAtomic } from './txn.js';

/** Remove a container; refused while its minc runs or anything is mounted in it. */
export function removeContainer(store: Store, ref: string): Promise<string> {
  return withLock(store, () => {
    const c = resolveContainer(store, ref);
    if (readContainer(store, c.id).running) throw new MincError(`container ${shortId(c.id)} is running (its minc is alive); end it first`);
    const mounted = mountsBelow(c.dir);
    if (mounted.length > 0) throw new MincError(`container ${shortId(c.id)}: ${mounted[0]} is still mounted`);
    removeAll(c.dir);
    return c.id;
  });
}

/** Remove an image and (as docker rmi) its nameless parents that nothing else uses; refused while an image or container is based on it. */
export function removeImage(store: Store, ref: string): Promise<string[]> {
  return withLock(store, () => {
    const img = resolveImage(store, ref);
    const deps = dependents(store, img.id);
    const names = [
      ...deps.containers.map((c) => `container ${shortId(c.id)}${c.name ? ` (${c.name})` : ''}`),
      ...liveRuns(store, img.id).map((d) => `run ${basename(d)} (minc --rm)`),
      ...deps.images.map((i) => `image ${shortId(i.id)}${i.name ? ` (${i.name})` : ''}`),
    ];
    if (names.length > 0) throw new MincError(`image ${shortId(img.id)} is in use by ${names.join(', ')}`);
    const removed = [dropImage(store, img)];
    for (let parent = img.baseid; parent && store.hasImageDir(parent); ) {
      const p = readImage(store, parent);
      if (!unused(store, p)) break;
      removed.push(dropImage(store, p));
      parent = p.baseid;
    }
    return removed;
  });
}

/** An image with no name that no image, container or live run (src/marten/runs.ts) is based on: a leftover layer. */
export const unused = (store: Store, img: ImageEntry): boolean => {
  if (img.names.length > 0) return false;
  const deps = dependents(store, img.id);
  return deps.images.length === 0 && deps.containers.length === 0 && liveRuns(store, img.id).length === 0;
};

/** Take an image out of images/ (under the caller's lock); refused while something is mounted in it. */
export function dropImage(store: Store, img: ImageEntry): string {
  const mounted = mountsBelow(img.dir);
  if (mounted.length > 0) throw new MincError(`image ${shortId(img.id)}: ${mounted[0]} is still mounted`);
  // rename first, so a crash in the middle leaves no half image under images/
  const trash = join(store.tmp, `rmi-${process.pid}-${img.id}`);
  store.ensure();
  removeAll(trash);
  renameSync(img.dir, trash);
  removeAll(trash);
  return img.id;
}

/** rm --all-stopped: every container of the store whose minc is not running (and has nothing mounted). */
export function removeStopped(store: Store): Promise<string[]> {
  return withLock(store, () => {
    const removed: string[] = [];
    for (const c of listContainers(store)) {
      if (c.running || mountsBelow(c.dir).length > 0) continue;
      removeAll(c.dir);
      removed.push(c.id);
    }
    return removed;
  });
}

/** rename UUID NAME: a container's name (its hostname when it next runs, as MINCS does). */
export function renameContainer(store: Store, ref: string, name: string): Promise<string> {
  return withLock(store, () => {
    const c = resolveContainer(store, ref);
    if (!/^[A-Za-z0-9][A-Za-z0-9.-]{0,63}$/.test(name)) throw new MincError(`'${name}' is not a usable container name (a hostname: letters, digits, '.', '-')`);
    const other = listContainers(store).find((o) => o.id !== c.id && o.name === name);
    if (other) throw new MincError(`the name ${name} is already used by container ${shortId(other.id)}`);
    writeAtomic(join(c.dir, 'name'), `${name}\n`);
    writeAtomic(join(c.dir, 'utsname'), `${name}\n`);
    return c.id;
  });
}

/** tag ID NAME adds a name; renamei ID NAME makes it the only one (taken from any other image that had it). */
export function tagImage(store: Store, ref: string, name: string, replace = false): Promise<string> {
  checkName(name);
  return withLock(store, () => {
    const img = resolveImage(store, ref);
    setImageName(store, img.id, name, replace);
    return img.id;
  });
}
