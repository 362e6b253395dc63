/**
 * Reading an unpacked `docker save` tarball: the manifest.json form
 * ([{Config, RepoTags, Layers}]) or the legacy form (repositories and
 * <id>/json with parent links, <id>/layer.tar).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, normalize } from 'node:path';
import { MincError, withContext } from '../../errors.js';
import type { ArchiveImage } from '../importer.js';
import { defaultConfig, type ImageConfig } from '../oci.js';

/** A path named by the archive, kept inside it. */
function inside(dir: string, rel: string): string {
  const n = normalize(rel);
  if (n.startsWith('..') || n.startsWith('/')) throw new MincError(`the archive names a path outside itself: ${rel}`);
  return join(dir, n);
}

function json<T>(path: string, what: string): T {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as T;
  } catch (err) {
    throw withContext(`reading ${what}`, err);
  }
}

interface SaveEntry {
  Config: string;
  RepoTags?: string[] | null;
  Layers: string[];
}

export function readDockerArchive(dir: string): ArchiveImage {
  if (existsSync(join(dir, 'manifest.json'))) {
    const entries = json<SaveEntry[]>(join(dir, 'manifest.json'), 'manifest.json');
    const e = entries[0];
    if (!e?.Config || !Array.isArray(e.Layers)) throw new MincError('manifest.json names no image');
    if (entries.length > 1) process.stderr.write(`marten: the archive holds ${entries.length} images; importing the first\n`);
    return {
      layers: e.Layers.map((l) => ({ file: inside(dir, l) })),
      config: json<ImageConfig>(inside(dir, e.Config), e.Config),
      name: e.RepoTags?.[0],
    };
  }
  return readLegacy(dir);
}

interface LegacyJson {
  id?: string;
  parent?: string;
  config?: ImageConfig['config'];
  architecture?: string;
  os?: string;
  created?: string;
}

function readLegacy(dir: string): ArchiveImage {
  const repos = json<Record<string, Record<string, string>>>(join(dir, 'repositories'), 'repositories');
  const repo = Object.keys(repos)[0];
  const tags = repo ? repos[repo] ?? {} : {};
  const tag = 'latest' in tags ? 'latest' : Object.keys(tags)[0];
  const top = tag ? tags[tag] : undefined;
  if (!repo || !tag || !top) throw new MincError('repositories names no image');
  const chain: string[] = [];
  let topJson: LegacyJson | null = null;
  for (let id: string | undefined = top; id; ) {
    if (!/^[0-9a-f]{64}$/.test(id) || chain.includes(id)) throw new MincError(`bad layer id '${id}' in the archive`);
    chain.unshift(id);
    const j: LegacyJson = json<LegacyJson>(inside(dir, `${id}/json`), `${id.slice(0, 12)}/json`);
    topJson ??= j;
    id = j.parent;
  }
  const config: ImageConfig = { ...defaultConfig(), rootfs: undefined };
  delete config.rootfs;
  if (topJson?.config) config.config = topJson.config;
  if (topJson?.architecture) config.architecture = topJson.architecture;
  if (topJson?.created) config.created = topJson.created;
  return { layers: chain.map((id) => ({ file: inside(dir, `${id}/layer.tar`) })), config, name: `${repo}:${tag}` };
}
