/**
 * Reading the store: images (one layer each, chained by baseid, MINCS's
 * model) and containers; ids by exact name, exact id or unique prefix.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { MincError } from '../errors.js';
import { processStart, readSettings } from '../run/settings.js';
import { defaultConfig, type ImageConfig } from './oci.js';
import { readJson, readText, type Store } from './store.js';
import { ownNs, type OverlayNs } from './layers/xattrns.js';

/** Digests of an image's own layer, when known (pulled or imported from a tarball, or packed once). */
export interface LayerInfo {
  diffId?: string;
  digest?: string;
  size?: number;
  mediaType?: string;
  /** a config-only image: an empty layer that is not distributed */
  empty?: boolean;
  /** its opaque marks are user.overlay.* (a user's layer, layers/xattrns.ts); absent: trusted.overlay.* */
  overlay?: 'user';
}

export interface ImageEntry {
  id: string;
  dir: string;
  /** its first name (MINCS's one name) */
  name: string | null;
  /** all its names, one a line in its name file */
  names: string[];
  baseid: string | null;
}

export interface ContainerEntry {
  id: string;
  dir: string;
  name: string | null;
  baseid: string | null;
  pid: number | null;
  running: boolean;
}

const ids = (dir: string): string[] => {
  try {
    return readdirSync(dir).filter((n) => /^[0-9a-f]{12,64}$/.test(n)).sort();
  } catch {
    return [];
  }
};

export function readImage(store: Store, id: string): ImageEntry {
  const dir = store.image(id);
  const names = (readText(join(dir, 'name')) ?? '').split('\n').map((n) => n.trim()).filter(Boolean);
  return { id, dir, name: names[0] ?? null, names, baseid: readText(join(dir, 'baseid')) || null };
}

export function listImages(store: Store): ImageEntry[] {
  return ids(store.images).map((id) => readImage(store, id));
}

/** A container is running while the minc that uses it is alive. */
export function containerRunning(dir: string): boolean {
  const s = readSettings(dir);
  if (!s?.mincPid) return false;
  const start = processStart(s.mincPid);
  return start !== null && start === s.mincStart;
}

export function readContainer(store: Store, id: string): ContainerEntry {
  const dir = store.container(id);
  const pid = Number(readText(join(dir, 'pid')));
  return {
    id,
    dir,
    name: readText(join(dir, 'name')) || readText(join(dir, 'utsname')) || null,
    baseid: readText(join(dir, 'baseid')) || null,
    pid: pid > 0 ? pid : null,
    running: containerRunning(dir),
  };
}

export function listContainers(store: Store): ContainerEntry[] {
  return ids(store.containers).map((id) => readContainer(store, id));
}

/** A name with its tag: `name` and `name:latest` are one name. */
export const tagged = (n: string): string => (n.includes('@') || n.lastIndexOf(':') > n.lastIndexOf('/') ? n : `${n}:latest`);

/** `name` and `name:latest` are one name. */
const sameName = (a: string, b: string): boolean => tagged(a) === tagged(b);

/**
 * A short form of a full reference (podman's short names): its last path
 * components, whole ones, `multi:2` and `team/multi:2` of
 * `127.0.0.1:5055/team/multi:2`; a bare name means `:latest`.
 */
export const shortFormOf = (name: string, ref: string): boolean => tagged(name).endsWith(`/${tagged(ref)}`);

function resolve<T extends { id: string; name: string | null; names?: string[] }>(what: string, all: T[], ref: string): T {
  if (!ref) throw new MincError(`no ${what} given`);
  const namesOf = (e: T): string[] => e.names ?? (e.name !== null ? [e.name] : []);
  const byName = all.filter((e) => namesOf(e).some((n) => sameName(n, ref)));
  if (byName.length === 1) return byName[0]!;
  const exact = all.find((e) => e.id === ref);
  if (exact) return exact;
  if (byName.length === 0 && !ref.startsWith('/')) {
    const short = all.filter((e) => namesOf(e).some((n) => shortFormOf(n, ref)));
    if (short.length === 1) return short[0]!;
    if (short.length > 1) {
      const candidates = short.flatMap((e) => namesOf(e).filter((n) => shortFormOf(n, ref)));
      throw new MincError(`${what} name '${ref}' is ambiguous: it could be ${candidates.join(', ')} (give the full name)`);
    }
  }
  const prefix = /^[0-9a-f]+$/.test(ref) ? all.filter((e) => e.id.startsWith(ref)) : [];
  if (prefix.length === 1) return prefix[0]!;
  if (prefix.length > 1) throw new MincError(`${what} id prefix '${ref}' is ambiguous: ${prefix.map((e) => e.id.slice(0, 12)).join(', ')}`);
  throw new MincError(`no such ${what}: ${ref}`);
}

export const resolveImage = (store: Store, ref: string): ImageEntry => resolve('image', listImages(store), ref);
export const resolveContainer = (store: Store, ref: string): ContainerEntry => resolve('container', listContainers(store), ref);

/** The image's layer ids, top first (its own, then its base's ...). */
export function layerChain(store: Store, id: string): string[] {
  const chain: string[] = [];
  let cur: string | null = id;
  while (cur) {
    if (chain.includes(cur)) throw new MincError(`image ${id.slice(0, 12)}: its baseid chain loops at ${cur.slice(0, 12)}`);
    if (!existsSync(join(store.image(cur), 'root')) && !isPacked(store, cur)) {
      throw new MincError(`image ${id.slice(0, 12)}: layer ${cur.slice(0, 12)} is missing from the store`);
    }
    chain.push(cur);
    cur = readText(join(store.image(cur), 'baseid')) || null;
  }
  return chain;
}

/**
 * A pulled layer not unpacked yet: no root/, but its layer.json names a
 * verified blob under blobs/ (unpacked on first use, layers/lazy.ts).
 */
export function isPacked(store: Store, id: string): boolean {
  if (existsSync(join(store.image(id), 'root'))) return false;
  const info = readJson<LayerInfo>(join(store.image(id), 'layer.json'));
  return Boolean(info?.digest && info.diffId && existsSync(store.blob(info.digest)));
}

/** The layers of an image (top first) that are still packed. */
export const packedLayers = (store: Store, id: string): string[] => layerChain(store, id).filter((l) => isPacked(store, l));

/** The config text of an image as stored: its own config.json, else its nearest base's. */
export function imageConfigText(store: Store, id: string): string | null {
  for (const l of layerChain(store, id)) {
    const c = readText(join(store.image(l), 'config.json'));
    if (c) return c;
  }
  return null;
}

/** The config of an image (see imageConfigText), else a default. */
export function imageConfig(store: Store, id: string): ImageConfig {
  const t = imageConfigText(store, id);
  return t ? (JSON.parse(t) as ImageConfig) : defaultConfig();
}

export function layerInfo(store: Store, id: string): LayerInfo {
  return readJson<LayerInfo>(join(store.image(id), 'layer.json')) ?? {};
}

/** The xattr namespace of a layer's opaque marks. */
export const layerNs = (store: Store, id: string): OverlayNs => (layerInfo(store, id).overlay === 'user' ? 'user' : 'trusted');

/** What layer.json records of a layer this marten unpacked or made: the user's form, where it is. */
export const ownLayerInfo = (): Pick<LayerInfo, 'overlay'> => (ownNs() === 'user' ? { overlay: 'user' } : {});

/** Images and containers whose baseid is id. */
export function dependents(store: Store, id: string): { images: ImageEntry[]; containers: ContainerEntry[] } {
  return {
    images: listImages(store).filter((i) => i.baseid === id),
    containers: listContainers(store).filter((c) => c.baseid === id),
  };
}

export const shortId = (id: string): string => id.slice(0, 12);
