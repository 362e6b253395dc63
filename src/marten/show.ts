/** marten lc|list, li|images, inspect: reading the store for people and scripts. */
import { basename, join } from 'node:path';
import { ownerAlive } from '../gc.js';
import { readSettings } from '../run/settings.js';
import { listTempdirs } from '../run/tempdir.js';
import { run } from './proc.js';
import { MincError } from '../errors.js';
import { imageConfig, isPacked, shortFormOf, tagged, type ImageEntry, layerChain, layerInfo, listContainers, listImages, readContainer, readImage, resolveContainer, resolveImage, shortId } from './model.js';
import { readText, type Store } from './store.js';
import { humanSize } from './util.js';
import { shortName } from './importer.js';

async function du(dir: string): Promise<string> {
  const r = await run('du', ['-sb', dir], false);
  const n = Number(r.stdout.toString().split('\t')[0]);
  return Number.isFinite(n) && r.status === 0 ? humanSize(n) : '?';
}

const idCol = (id: string, long: boolean): string => (long ? id : shortId(id));

export function listContainersText(store: Store, long: boolean): string {
  const rows = [['ID', 'PID', 'STATE', 'IMAGE', 'NAME']];
  for (const c of listContainers(store)) {
    const img = c.baseid ? readImage(store, c.baseid).name ?? idCol(c.baseid, long) : '-';
    rows.push([idCol(c.id, long), c.running && c.pid ? String(c.pid) : '-', c.running ? 'running' : 'stopped', img, c.name ?? '<noname>']);
  }
  // runs of minc outside the store (a temp dir, `minc -B` in the background say) while they last
  for (const dir of listTempdirs()) {
    if (!ownerAlive(dir)) continue;
    const s = readSettings(dir);
    const pid = Number(readText(join(dir, 'pid')));
    // (a minc --rm -r IMAGE run shows its image, src/marten/runs.ts)
    const image = s?.image && store.hasImageDir(s.image) ? readImage(store, s.image).name ?? idCol(s.image, long) : undefined;
    rows.push([long ? dir : basename(dir), pid > 0 ? String(pid) : '-', 'running', image ?? s?.rootdir ?? '/', s?.name ?? readText(join(dir, 'utsname')) ?? '<noname>']);
  }
  return table(rows);
}

export async function listImagesText(store: Store, long: boolean): Promise<string> {
  const rows = [['ID', 'SIZE', 'BASE', 'NAME']];
  const all = listImages(store);
  for (const i of all) {
    // a pulled layer not unpacked yet (layers/lazy.ts): the size of its compressed blob, marked
    const size = isPacked(store, i.id) ? `${humanSize(layerInfo(store, i.id).size ?? 0)}(packed)` : await du(join(i.dir, 'root'));
    rows.push([idCol(i.id, long), size, i.baseid ? idCol(i.baseid, long) : '-', i.names.length > 0 ? i.names.map((n) => withShort(n, all)).join(',') : '(noname)']);
  }
  return table(rows);
}

/** A full reference, and MINCS's short name after it where that names only this image: `127.0.0.1:5000/team/multi:2 (multi:2)`. */
function withShort(name: string, all: readonly ImageEntry[]): string {
  const short = shortName(name);
  if (short === name || tagged(short) === tagged(name)) return name;
  const owners = all.filter((i) => i.names.some((n) => tagged(n) === tagged(short) || shortFormOf(n, short)));
  return owners.length === 1 ? `${name} (${short})` : name;
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows.map((r) => r.map((v, c) => (c === r.length - 1 ? v : v.padEnd(widths[c]!))).join('  ')).join('\n');
}

/** JSON about an image or a container (an image is looked for first). */
export function inspect(store: Store, ref: string): unknown {
  let imgErr: unknown;
  try {
    const i = resolveImage(store, ref);
    return {
      kind: 'image',
      id: i.id,
      name: i.name,
      names: i.names,
      dir: i.dir,
      layers: layerChain(store, i.id).map((l) => ({ id: l, ...layerInfo(store, l) })),
      config: imageConfig(store, i.id),
    };
  } catch (err) {
    imgErr = err;
  }
  try {
    const c = resolveContainer(store, ref);
    const r = readContainer(store, c.id);
    return { kind: 'container', id: r.id, name: r.name, dir: r.dir, image: r.baseid, pid: r.pid, running: r.running };
  } catch {
    const ambiguous = imgErr instanceof MincError && / is ambiguous/.test(imgErr.message);
    throw imgErr instanceof MincError && !ambiguous ? new MincError(`no such image or container: ${ref}`) : imgErr;
  }
}
