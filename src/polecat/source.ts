/**
 * ROOTDIR|IMAGE: a directory as it is, or a marten image whose layers are
 * mounted as one read-only overlay (polecat builds in a private mount
 * namespace of its own, so the mount goes with it whatever ends the build).
 */
import { mkdirSync, realpathSync, statSync } from 'node:fs';
import { MincError, UsageError } from '../errors.js';
import { imageRun } from '../marten/minc.js';
import { run } from '../marten/proc.js';

/** Mount points made by this build, unmounted (lazily) before its work dir is removed. */
export const mounted: string[] = [];

export function unmountAll(): void {
  const { spawnSync } = process.getBuiltinModule('node:child_process');
  for (const m of mounted.splice(0).reverse()) spawnSync('umount', ['-l', m], { stdio: 'ignore' });
}

export interface Source {
  /** what .polecat.json says of it */
  describe: { rootdir: string } | { image: string };
  /** the image's command (Entrypoint + Cmd), baked when none is given */
  command?: readonly string[];
  layers?: readonly string[];
  dir?: string;
}

export function resolveSource(ref: string): Source {
  let st;
  try {
    st = statSync(ref);
  } catch {
    st = null;
  }
  if (st) {
    if (!st.isDirectory()) throw new UsageError(`${ref}: not a directory (nor an image)`);
    const dir = realpathSync(ref);
    return { describe: { rootdir: dir }, dir };
  }
  if (ref.includes('/')) throw new UsageError(`${ref}: no such directory`);
  let img;
  try {
    img = imageRun(ref, undefined);
  } catch (err) {
    throw new UsageError(`${ref}: no such directory or image (${(err as Error).message.replace(/^--rootdir '[^']*': no such directory, and /, '')})`);
  }
  if (!img) throw new UsageError(`${ref}: no such directory or image`);
  return { describe: { image: img.id }, ...(img.command ? { command: img.command } : {}), layers: img.layers };
}

/** Mount layers (top first) read-only at dir: the image's root as minc would show it. */
export async function mountLayers(layers: readonly string[], dir: string): Promise<string> {
  mkdirSync(dir, { mode: 0o755 });
  if (layers.length === 1) {
    await run('mount', ['--bind', '-o', 'ro', layers[0]!, dir]);
    mounted.push(dir);
    return dir;
  }
  try {
    await run('mount', ['-t', 'overlay', '-o', `ro,lowerdir=${layers.join(':')}`, 'polecat', dir]);
    mounted.push(dir);
  } catch (err) {
    throw new MincError(`mounting the image's layers: ${(err as Error).message}`, { cause: err });
  }
  return dir;
}
