/**
 * Image fixtures made by the tests themselves: layer tars (GNU tar, OCI
 * whiteouts as plain `.wh.` files), then an OCI image layout, a `docker save`
 * tarball (manifest.json form) or a legacy one (repositories + <id>/layer.tar).
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { makeBusyboxRootfs } from './rootfs.js';

export const sha = (b: Buffer | string): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const hex = (d: string): string => d.slice(7);

/** A layer tar of dir's contents. */
export function tarOf(dir: string): Buffer {
  return execFileSync('tar', ['-C', dir, '--numeric-owner', '--sort=name', '-cf', '-', '.'], { maxBuffer: 1 << 30 });
}

function write(dir: string, files: Record<string, string>): void {
  for (const [p, content] of Object.entries(files)) {
    mkdirSync(join(dir, p, '..'), { recursive: true });
    writeFileSync(join(dir, p), content);
  }
}

export interface Fixture {
  /** uncompressed layer tars, bottom first */
  layers: Buffer[];
  config: Record<string, unknown>;
  remove(): void;
}

/**
 * Three layers: a busybox rootfs with /etc/gone, /data/old and /keep; then a
 * layer deleting /etc/gone (whiteout) and making /data opaque with /data/new;
 * then /etc/motd.  Env, Cmd and WorkingDir set.
 */
export function threeLayerImage(arch = 'amd64'): Fixture {
  const tmp = mkdtempSync('/tmp/marten-test-fixture-');
  const base = makeBusyboxRootfs(tmp);
  write(base.dir, { 'etc/gone': 'to be deleted\n', 'data/old': 'old\n', keep: 'kept\n' });
  const l2 = join(tmp, 'l2');
  write(l2, { 'etc/.wh.gone': '', 'data/.wh..wh..opq': '', 'data/new': 'new\n' });
  const l3 = join(tmp, 'l3');
  write(l3, { 'etc/motd': 'three layers\n' });
  const layers = [tarOf(base.dir), tarOf(l2), tarOf(l3)];
  rmSync(tmp, { recursive: true, force: true });
  return {
    layers,
    config: {
      architecture: arch,
      os: 'linux',
      config: { Env: ['PATH=/bin', 'GREETING=hello'], Cmd: ['/bin/sh', '-c', 'echo "$GREETING from $(pwd)"'], WorkingDir: '/data' },
      rootfs: { type: 'layers', diff_ids: layers.map(sha) },
    },
    remove: () => undefined,
  };
}

function tarDir(dir: string, out: string): void {
  execFileSync('tar', ['-C', dir, '-cf', out, '.']);
}

/** An OCI image-layout tarball; layers gzipped where gzip[i]. */
export function ociLayoutTar(fx: Fixture, out: string, opts: { gzip?: boolean[]; name?: string } = {}): { manifestDigest: string } {
  const dir = mkdtempSync('/tmp/marten-test-oci-');
  const blobs = join(dir, 'blobs', 'sha256');
  mkdirSync(blobs, { recursive: true });
  const put = (b: Buffer | string): string => {
    const d = sha(b);
    writeFileSync(join(blobs, hex(d)), b);
    return d;
  };
  const layers = fx.layers.map((l, i) => {
    const gz = opts.gzip?.[i] ?? false;
    const data = gz ? gzipSync(l) : l;
    return { mediaType: `application/vnd.oci.image.layer.v1.tar${gz ? '+gzip' : ''}`, digest: put(data), size: data.length };
  });
  const configText = JSON.stringify(fx.config);
  const manifest = JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: put(configText), size: configText.length }, layers,
  });
  const md = put(manifest);
  const annotations = opts.name ? { 'io.containerd.image.name': opts.name, 'org.opencontainers.image.ref.name': opts.name.split(':').at(-1) } : undefined;
  writeFileSync(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  writeFileSync(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: md, size: manifest.length, annotations }] }));
  tarDir(dir, out);
  rmSync(dir, { recursive: true, force: true });
  return { manifestDigest: md };
}

/** A `docker save` tarball, manifest.json form (<diffid>/layer.tar, <config>.json). */
export function dockerSaveTar(fx: Fixture, out: string, repoTag: string): void {
  const dir = mkdtempSync('/tmp/marten-test-save-');
  const configText = JSON.stringify(fx.config);
  const cfg = `${hex(sha(configText))}.json`;
  writeFileSync(join(dir, cfg), configText);
  const paths = fx.layers.map((l) => {
    const p = `${hex(sha(l))}/layer.tar`;
    mkdirSync(join(dir, p, '..'), { recursive: true });
    writeFileSync(join(dir, p), l);
    return p;
  });
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify([{ Config: cfg, RepoTags: [repoTag], Layers: paths }]));
  tarDir(dir, out);
  rmSync(dir, { recursive: true, force: true });
}

/** A legacy `docker save` tarball: repositories and <id>/{json,layer.tar} chained by parent; the top json carries the config's rootfs.diff_ids (marten checks the layers against them). */
export function dockerLegacyTar(fx: Fixture, out: string, repo: string, tag: string): void {
  const dir = mkdtempSync('/tmp/marten-test-legacy-');
  let parent: string | undefined;
  fx.layers.forEach((l, i) => {
    const id = hex(sha(`${parent ?? ''}${sha(l)}`));
    mkdirSync(join(dir, id));
    writeFileSync(join(dir, id, 'layer.tar'), l);
    writeFileSync(join(dir, id, 'VERSION'), '1.0');
    const top = i === fx.layers.length - 1;
    writeFileSync(join(dir, id, 'json'), JSON.stringify({ id, ...(parent ? { parent } : {}), ...(top ? { config: (fx.config as { config: unknown }).config, architecture: 'amd64', os: 'linux', rootfs: fx.config.rootfs } : {}) }));
    parent = id;
  });
  writeFileSync(join(dir, 'repositories'), JSON.stringify({ [repo]: { [tag]: parent } }));
  tarDir(dir, out);
  rmSync(dir, { recursive: true, force: true });
}

export const readJson = <T>(p: string): T => JSON.parse(readFileSync(p, 'utf8')) as T;
