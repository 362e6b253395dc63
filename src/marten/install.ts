/**
 * Putting staged layers into the store, under the lock: each layer becomes an
 * image (id = its OCI ChainID, MINCS's one-layer-per-image model, chained by
 * baseid); the top one gets the config and the name.  Layers already stored
 * are shared, not duplicated.
 */
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MincError } from '../errors.js';
import { listImages, ownLayerInfo, type LayerInfo } from './model.js';
import { chainIds, sha256, type ImageConfig } from './oci.js';
import { digestHex, readText, type Store } from './store.js';
import { moveIntoPlace, withLock, writeAtomic } from './txn.js';

export interface StagedLayer {
  /** the unpacked layer (overlayfs form); absent when the layer is already stored, or packed */
  root?: string;
  /** only its verified blob is stored (blobs/): the layer dir gets no root/ until its first use (layers/lazy.ts) */
  packed?: boolean;
  info: LayerInfo & { diffId: string };
}

const writeNames = (store: Store, id: string, names: string[]): void => {
  if (names.length === 0) rmSync(join(store.image(id), 'name'), { force: true });
  else writeAtomic(join(store.image(id), 'name'), `${names.join('\n')}\n`);
};

/**
 * Give id the name, taking it from any image that has it (as docker moves a
 * tag); with replace, it becomes the image's only name (MINCS's renamei).
 */
export function setImageName(store: Store, id: string, name: string, replace = false): void {
  const same = (n: string): boolean => n.replace(/:latest$/, '') === name.replace(/:latest$/, '');
  let mine: string[] = [];
  for (const img of listImages(store)) {
    if (img.id === id) mine = img.names;
    else if (img.names.some(same)) writeNames(store, img.id, img.names.filter((n) => !same(n)));
  }
  writeNames(store, id, replace ? [name] : [...mine.filter((n) => !same(n)), name]);
}

export function checkName(name: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9._:@/-]{0,254}$/.test(name) || /^[0-9a-f]{12,64}$/.test(name)) {
    throw new MincError(`'${name}' is not a usable name (letters, digits, . _ : @ / -; not an id)`);
  }
  return name;
}

/** The layer ids (ChainIDs, hex) an image of these DiffIDs gets, bottom first. */
export const layerIds = (diffIds: readonly string[]): string[] => chainIds(diffIds).map(digestHex);

/** Install staged layers (bottom first) with config and name; returns the image id. */
export async function installImage(store: Store, staging: string, layers: readonly StagedLayer[], config: ImageConfig, name?: string,
  rawConfig?: string): Promise<string> {
  const diffIds = layers.map((l) => l.info.diffId);
  const ids = layerIds(diffIds);
  const matches = JSON.stringify(config.rootfs?.diff_ids) === JSON.stringify(diffIds);
  const configText = rawConfig && matches ? rawConfig : JSON.stringify({ ...config, rootfs: { type: 'layers', diff_ids: diffIds } });
  return withLock(store, () => {
    ids.forEach((id, i) => {
      const target = store.image(id);
      if (existsSync(target)) return;
      const layer = layers[i]!;
      if (!layer.root && !layer.packed) throw new MincError(`layer ${id.slice(0, 12)} is neither staged nor stored`);
      const dir = join(staging, `img-${id}`);
      mkdirSync(dir);
      if (layer.root) moveIntoPlace(layer.root, join(dir, 'root'));
      if (i > 0) writeFileSync(join(dir, 'baseid'), `${ids[i - 1]}\n`);
      writeFileSync(join(dir, 'layer.json'), `${JSON.stringify(layer.root ? { ...layer.info, ...ownLayerInfo() } : layer.info)}\n`);
      moveIntoPlace(dir, target);
    });
    let top = ids.at(-1);
    if (top === undefined) throw new MincError('the image has no layers');
    const existing = readText(join(store.image(top), 'config.json'));
    if (existing === null) {
      writeAtomic(join(store.image(top), 'config.json'), configText);
    } else if (sha256(existing) !== sha256(configText) && !sameConfig(existing, configText)) {
      // same layers, another config: an image of its own with an empty layer on top
      const id = digestHex(sha256(configText));
      if (!existsSync(store.image(id))) {
        const dir = join(staging, `img-${id}`);
        mkdirSync(join(dir, 'root'), { recursive: true });
        writeFileSync(join(dir, 'baseid'), `${top}\n`);
        writeFileSync(join(dir, 'config.json'), configText);
        writeFileSync(join(dir, 'layer.json'), '{"empty":true}\n');
        moveIntoPlace(dir, store.image(id));
      }
      top = id;
    }
    if (name) setImageName(store, top, name);
    return top;
  });
}

/** Configs equal but for their creation time. */
function sameConfig(a: string, b: string): boolean {
  const strip = (t: string): string => {
    const c = JSON.parse(t) as ImageConfig;
    delete c.created;
    delete c.history;
    return JSON.stringify(c);
  };
  return strip(a) === strip(b);
}
