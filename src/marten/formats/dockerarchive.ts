/**
 * Reading an unpacked `docker save` tarball: the manifest.json form
 * ([{Config, RepoTags, Layers}]) or the legacy form (repositories and
 * <id>/json with parent links, <id>/layer.tar).  Every JSON member is
 * bounded and its shape checked (formats/shape.ts).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { MincError } from '../../errors.js';
import type { ArchiveImage } from '../importer.js';
import { defaultConfig, type ImageConfig } from '../oci.js';
import { memberPath, readJsonMember } from './outer.js';
import { array, imageConfig, isObject, object, optString, string, strings } from './shape.js';

/** A path named by the archive, kept inside it. */
const inside = (dir: string, rel: string): string => join(dir, memberPath(rel));

export function readDockerArchive(dir: string): ArchiveImage {
  if (existsSync(join(dir, 'manifest.json'))) {
    const doc = 'manifest.json';
    const entries = array(readJsonMember(dir, 'manifest.json', doc), doc, '');
    if (entries.length === 0) throw new MincError('manifest.json names no image');
    const e = object(entries[0], doc, '[0]');
    const configPath = string(e.Config, doc, '[0].Config');
    const layers = strings(e.Layers, doc, '[0].Layers');
    const tags = e.RepoTags === undefined || e.RepoTags === null ? [] : strings(e.RepoTags, doc, '[0].RepoTags');
    if (entries.length > 1) process.stderr.write(`marten: the archive holds ${entries.length} images; importing the first\n`);
    return {
      layers: layers.map((l) => ({ file: inside(dir, l) })),
      config: imageConfig(readJsonMember(dir, configPath, configPath), configPath),
      name: tags[0],
    };
  }
  return readLegacy(dir);
}

function readLegacy(dir: string): ArchiveImage {
  const repos = object(readJsonMember(dir, 'repositories', 'repositories'), 'repositories', '');
  const repo = Object.keys(repos)[0];
  const tags = repo ? object(repos[repo], 'repositories', repo) : {};
  const tag = 'latest' in tags ? 'latest' : Object.keys(tags)[0];
  const top = tag ? string(tags[tag], 'repositories', `${repo}.${tag}`) : undefined;
  if (!repo || !tag || !top) throw new MincError('repositories names no image');
  const chain: string[] = [];
  let topJson: Record<string, unknown> | null = null;
  for (let id: string | undefined = top; id; ) {
    if (!/^[0-9a-f]{64}$/.test(id) || chain.includes(id)) throw new MincError(`bad layer id '${id.slice(0, 80)}' in the archive`);
    if (chain.length >= 256) throw new MincError('the archive chains more than 256 layers');
    chain.unshift(id);
    const what = `${id.slice(0, 12)}/json`;
    const j = object(readJsonMember(dir, `${id}/json`, what), what, '');
    topJson ??= j;
    id = optString(j.parent, what, 'parent');
  }
  // the top layer's json is (a superset of) the image config; its rootfs.diff_ids, if any, check the layers
  const full = imageConfig({ ...topJson }, `${top.slice(0, 12)}/json`);
  const config: ImageConfig = { ...defaultConfig() };
  delete config.rootfs;
  if (full.config) config.config = full.config;
  if (full.architecture) config.architecture = full.architecture;
  if (full.os) config.os = full.os;
  if (full.created) config.created = full.created;
  if (isObject(full.rootfs)) config.rootfs = full.rootfs;
  return { layers: chain.map((id) => ({ file: inside(dir, `${id}/layer.tar`) })), config, name: `${repo}:${tag}` };
}
