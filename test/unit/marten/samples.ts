/** Valid registry JSON samples (OCI image spec shapes), for shape.test.ts and fuzz.test.ts. */
export const D = (c: string): string => `sha256:${c.repeat(64)}`;
export const MANIFEST = {
  schemaVersion: 2,
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: D('c'), size: 300 },
  layers: [
    { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: D('1'), size: 1000 },
    { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: D('2'), size: 0, annotations: { a: 'b' } },
  ],
};
export const INDEX = {
  schemaVersion: 2,
  mediaType: 'application/vnd.oci.image.index.v1+json',
  manifests: [
    { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: D('a'), size: 500, platform: { os: 'linux', architecture: 'amd64' } },
    { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: D('b'), size: 501, platform: { os: 'linux', architecture: 'arm', variant: 'v7' } },
  ],
};
export const CONFIG = {
  architecture: 'amd64',
  os: 'linux',
  created: '2026-01-01T00:00:00Z',
  config: { Env: ['PATH=/bin'], Cmd: ['sh'], Entrypoint: null, WorkingDir: '/', User: '0', Labels: { x: 'y' } },
  rootfs: { type: 'layers', diff_ids: [D('d'), D('e')] },
  history: [{ created_by: 'x' }],
};
export const TOKEN = { token: 'abc.def-ghi', expires_in: 300 };
