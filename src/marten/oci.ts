/** OCI / Docker image formats: media types, config, manifest and index shapes, digests. */
import { UsageError } from '../errors.js';
// node:crypto costs ~8 ms to load; minc's hot path reaches this module, so it loads on first use
// (process.getBuiltinModule: no node:module and its ESM loader at start-up either)
const createHash = (alg: string) => process.getBuiltinModule('node:crypto').createHash(alg);

export const MT = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
} as const;

export const MANIFEST_TYPES: readonly string[] = [MT.ociManifest, MT.dockerManifest];
export const INDEX_TYPES: readonly string[] = [MT.ociIndex, MT.dockerList];

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: Platform;
  annotations?: Record<string, string>;
}

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

export interface Manifest {
  schemaVersion: number;
  mediaType?: string;
  config: Descriptor;
  layers: Descriptor[];
}

export interface Index {
  schemaVersion: number;
  mediaType?: string;
  manifests: Descriptor[];
}

/** The parts of an image config minc uses (the rest is kept as is). */
export interface ImageConfig {
  architecture?: string;
  os?: string;
  variant?: string;
  created?: string;
  config?: {
    Env?: string[] | null;
    Cmd?: string[] | null;
    Entrypoint?: string[] | null;
    WorkingDir?: string;
    User?: string;
    [k: string]: unknown;
  };
  rootfs?: { type: string; diff_ids: string[] };
  history?: unknown[];
  [k: string]: unknown;
}

export const sha256 = (data: string | Buffer): string => `sha256:${createHash('sha256').update(data).digest('hex')}`;

/** OCI ChainID of a stack of layers by DiffID, bottom first. */
export function chainIds(diffIds: readonly string[]): string[] {
  const out: string[] = [];
  for (const d of diffIds) out.push(out.length === 0 ? d : sha256(`${out.at(-1)} ${d}`));
  return out;
}

/** The host's platform in OCI terms. */
export function hostPlatform(): Platform {
  const arch: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' };
  return { os: 'linux', architecture: arch[process.arch] ?? process.arch };
}

/** "os/arch[/variant]" -> Platform */
export function parsePlatform(spec: string): Platform {
  const [os, architecture, variant, extra] = spec.split('/');
  if (!os || !architecture || variant === '' || extra !== undefined) throw new UsageError(`--platform '${spec}': expected OS/ARCH[/VARIANT]`);
  return variant ? { os, architecture, variant } : { os, architecture };
}

export const platformString = (p: Platform): string => [p.os, p.architecture, p.variant].filter(Boolean).join('/');

export function defaultConfig(): ImageConfig {
  const p = hostPlatform();
  return { architecture: p.architecture, os: p.os, created: new Date().toISOString(), config: {}, rootfs: { type: 'layers', diff_ids: [] } };
}
