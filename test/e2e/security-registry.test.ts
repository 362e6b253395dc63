/**
 * marten pull against a hostile registry (issue 8, items 7 and 9): a node:http
 * server on 127.0.0.1 in this process serves an image, then lies about it —
 * endless or oversized replies, stalls, truncations, wrong shapes, wrong
 * digests.  Each pull must fail in one `marten:` line that names what was
 * wrong, quickly, and leave the store as it was (no staging dir, no blob).
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { pack } from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha } from '../helpers/images.js';
import { makeStore, type Run, type TestStore } from '../helpers/marten.js';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const OCI_LAYER = 'application/vnd.oci.image.layer.v1.tar+gzip';
const ARCH: Record<string, string> = { x64: 'amd64', arm64: 'arm64' };

let server: Server;
let host: string;
const routes = new Map<string, Handler>();
let store: TestStore;
let before: string[];
let seq = 0;

/** A layer tar (tar-stream) with one file, unique to this image. */
async function layerTar(text: string): Promise<Buffer> {
  const p = pack();
  p.entry({ name: 'hello', mode: 0o644 }, text);
  p.finalize();
  const parts: Buffer[] = [];
  for await (const c of p) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

interface Image {
  repo: string;
  layer: Buffer;
  config: Buffer;
  manifest: Buffer;
  layerDigest: string;
  configDigest: string;
  /** all the layers' blobs, bottom first (layer is the first) */
  layers: Buffer[];
}

/**
 * An image served under /v2/evil/<n>/ by tag `t`, its routes then replaceable: one layer
 * (big random bytes more in it), or `count` layers, `dup` of them the first one again.
 */
async function serveImage(big = 0, count = 1, dup = 0): Promise<Image> {
  const repo = `evil/i${++seq}`;
  // random content: it does not compress away
  const tars: Buffer[] = [];
  for (let i = 0; i < count - dup; i++) tars.push(await layerTar(`image ${seq}.${i} ${Math.random()}\n${randomBytes(big).toString('base64')}`));
  for (let i = 0; i < dup; i++) tars.push(tars[0]!);
  const layers = tars.map((t) => gzipSync(t));
  const config = Buffer.from(JSON.stringify({ architecture: ARCH[process.arch] ?? process.arch, os: 'linux', config: { Cmd: ['sh'] }, rootfs: { type: 'layers', diff_ids: tars.map(sha) } }));
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: OCI_MANIFEST,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(config), size: config.length },
    layers: layers.map((l) => ({ mediaType: OCI_LAYER, digest: sha(l), size: l.length })),
  }));
  const img = { repo, layer: layers[0]!, config, manifest, layerDigest: sha(layers[0]!), configDigest: sha(config), layers };
  const send = (type: string, body: Buffer): Handler => (_q, res) => {
    res.writeHead(200, { 'content-type': type, 'content-length': body.length });
    res.end(body);
  };
  routes.set(`/v2/${repo}/manifests/t`, send(OCI_MANIFEST, manifest));
  routes.set(`/v2/${repo}/manifests/${sha(manifest)}`, send(OCI_MANIFEST, manifest));
  routes.set(`/v2/${repo}/blobs/${img.configDigest}`, send('application/octet-stream', config));
  for (const l of layers) routes.set(`/v2/${repo}/blobs/${sha(l)}`, send('application/octet-stream', l));
  return img;
}

/** Endless data, as fast as the client takes it, until it goes away. */
const endless = (type: string, first: string | Buffer = ''): Handler => (_q, res) => {
  res.writeHead(res.statusCode === 200 ? 200 : res.statusCode, { 'content-type': type });
  const chunk = Buffer.alloc(64 << 10, 0x20);
  res.write(first);
  const more = (): void => {
    while (!res.destroyed && res.write(chunk));
    if (!res.destroyed) res.once('drain', more);
  };
  res.on('close', () => res.removeAllListeners('drain'));
  more();
};

/** Headers and `part` bytes of body, then silence (the socket stays open). */
const stall = (body: Buffer, part: number, headers: Record<string, string | number> = { 'content-length': body.length }): Handler => (_q, res) => {
  res.writeHead(200, { 'content-type': 'application/octet-stream', ...headers });
  res.write(body.subarray(0, part));
};

/** Headers and `part` bytes of body, then the connection closes. */
const truncate = (body: Buffer, part: number, headers: Record<string, string | number> = { 'content-length': body.length }): Handler => (_q, res) => {
  res.writeHead(200, { 'content-type': 'application/octet-stream', ...headers });
  res.write(body.subarray(0, part), () => setTimeout(() => res.socket?.destroy(), 50));
};

const pull = (img: Image, env: Record<string, string> = {}, tag = 't'): Promise<Run> =>
  store.marten(['pull', `${host}/${img.repo}:${tag}`], { env, timeout: 30_000 });

/** One error line (progress lines may come before it), non-zero status, no stack, the store as it was. */
function refused(r: Run, re: RegExp): void {
  expect(r.exitCode, r.stderr).not.toBe(0);
  const lines = r.stderr.trim().split('\n').filter((l) => !/^marten: [0-9a-f]{12}: /.test(l));
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^marten: /);
  expect(lines[0]).toMatch(re);
  expect(r.stderr).not.toMatch(/^\s+at /m);
  expect(store.snapshot()).toEqual(before);
  expect(readdirSync(join(store.dir, 'tmp'))).toEqual([]);
}

beforeAll(async () => {
  server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0]!;
    if (path === '/v2/') {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': 2 });
      res.end('{}');
      return;
    }
    const h = routes.get(path);
    if (h) return h(req, res);
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end('{"errors":[{"code":"NOT_FOUND","message":"no such thing"}]}');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  host = `127.0.0.1:${(server.address() as { port: number }).port}`;
  store = makeStore();
  // a good image first: the fake registry works, and the store has something to keep unchanged
  const good = await serveImage();
  const r = await pull(good);
  expect(r.exitCode, r.stderr).toBe(0);
  before = store.snapshot();
  expect(before.some((p) => p.startsWith('blobs/'))).toBe(true);
});
afterAll(() => {
  server?.closeAllConnections();
  server?.close();
  store?.remove();
});

describe('item 7: every read of registry data is bounded, in size and in time', () => {
  it('an endless manifest: stopped at 4 MiB, quickly', async () => {
    const img = await serveImage();
    routes.set(`/v2/${img.repo}/manifests/t`, endless(OCI_MANIFEST, '{"schemaVersion":2,"x":"'));
    const t0 = Date.now();
    refused(await pull(img), /manifest t: .*exceeded maximum allowed size \(4 MiB\)/);
    expect(Date.now() - t0).toBeLessThan(10_000);
  });

  it('an endless config, and a manifest that says 5 MiB up front', async () => {
    const img = await serveImage();
    routes.set(`/v2/${img.repo}/blobs/${img.configDigest}`, endless('application/octet-stream', '{"a":"'));
    refused(await pull(img), /config sha256:[0-9a-f]{64}: .*exceeded/);
    const img2 = await serveImage();
    routes.set(`/v2/${img2.repo}/manifests/t`, stall(Buffer.alloc(5 << 20), 0));
    refused(await pull(img2), /manifest t: .*exceeded maximum allowed size \(4 MiB\)/);
  });

  it('a blob longer than its descriptor: refused by its Content-Length, or at the first byte past it', async () => {
    const img = await serveImage();
    const longer = Buffer.concat([img.layer, Buffer.alloc(1000)]);
    routes.set(`/v2/${img.repo}/blobs/${img.layerDigest}`, (_q, res) => {
      res.writeHead(200, { 'content-length': longer.length });
      res.end(longer);
    });
    refused(await pull(img), new RegExp(`blob ${img.layerDigest}: .*Content-Length ${longer.length}.*descriptor.*${img.layer.length}`));
    // chunked (no Content-Length): the ordinary path, endless after the real bytes
    routes.set(`/v2/${img.repo}/blobs/${img.layerDigest}`, endless('application/octet-stream', img.layer));
    refused(await pull(img), new RegExp(`blob ${img.layerDigest}: .*more than the ${img.layer.length} bytes its descriptor says`));
  });

  it('a huge Content-Length is refused before a byte is written', async () => {
    const img = await serveImage();
    routes.set(`/v2/${img.repo}/blobs/${img.layerDigest}`, stall(img.layer, 100, { 'content-length': 2 ** 40 }));
    const t0 = Date.now();
    refused(await pull(img), /Content-Length 1099511627776/);
    expect(Date.now() - t0).toBeLessThan(10_000);
  });

  it('a registry that stalls: a manifest, a blob (plain and chunked), with a short stall timeout', async () => {
    const env = { MARTEN_STALL_TIMEOUT_MS: '700' };
    const img = await serveImage();
    routes.set(`/v2/${img.repo}/manifests/t`, stall(img.manifest, 10));
    const t0 = Date.now();
    refused(await pull(img, env), /manifest t: .*no data for 0\.7 s/);
    expect(Date.now() - t0).toBeLessThan(10_000);
    routes.set(`/v2/${img.repo}/manifests/t`, stall(img.manifest, img.manifest.length));
    routes.set(`/v2/${img.repo}/blobs/${img.configDigest}`, stall(img.config, 0, {}));
    refused(await pull(img, env), /no data for 0\.7 s/);
    const img2 = await serveImage();
    routes.set(`/v2/${img2.repo}/blobs/${img2.layerDigest}`, stall(img2.layer, 100));
    refused(await pull(img2, env), new RegExp(`blob ${img2.layerDigest}: .*no data for 0\\.7 s`));
    routes.set(`/v2/${img2.repo}/blobs/${img2.layerDigest}`, stall(img2.layer, 100, {}));
    refused(await pull(img2, env), new RegExp(`blob ${img2.layerDigest}: .*no data for 0\\.7 s`));
  });
});

describe('item 7: push reads the registry with the same bounds', () => {
  it('a registry that never answers, and an endless error reply', async () => {
    const t0 = Date.now();
    routes.set('/v2/evil/pushed/blobs/uploads/', () => undefined);
    // HEAD of each blob: 404, then the upload's POST is never answered
    const push = (): Promise<Run> => store.marten(['push', 'i1:t', `${host}/evil/pushed:t`], { env: { MARTEN_STALL_TIMEOUT_MS: '700' }, timeout: 30_000 });
    refused(await push(), /POST http:\/\/127\.0\.0\.1:\d+\/v2\/evil\/pushed\/blobs\/uploads\/: no data for 0\.7 s/);
    routes.set('/v2/evil/pushed/blobs/uploads/', (_q, res) => {
      res.statusCode = 500;
      endless('application/json', '{"errors":[{"code":"X","message":"')(_q, res);
    });
    refused(await push(), /POST .*: 500 Internal Server Error$/);
    expect(Date.now() - t0).toBeLessThan(20_000);
  });
});

describe('item 9: one line that says what was wrong with what', () => {
  it('a truncated blob says it closed early, after N of M bytes (plain and chunked)', async () => {
    const img = await serveImage(200_000);
    routes.set(`/v2/${img.repo}/blobs/${img.layerDigest}`, truncate(img.layer, 300));
    refused(await pull(img), new RegExp(`blob ${img.layerDigest}: the connection closed early after 300 of ${img.layer.length} bytes`));
    routes.set(`/v2/${img.repo}/blobs/${img.layerDigest}`, truncate(img.layer, 300, {}));
    refused(await pull(img), new RegExp(`blob ${img.layerDigest}: the connection closed early after 300 of ${img.layer.length} bytes`));
  });

  it('registry JSON of the wrong shape names the field', async () => {
    const img = await serveImage();
    const json = (body: unknown, type = OCI_MANIFEST): Handler => (_q, res) => {
      const b = Buffer.from(JSON.stringify(body));
      res.writeHead(200, { 'content-type': type, 'content-length': b.length });
      res.end(b);
    };
    const m = JSON.parse(img.manifest.toString()) as { layers: { digest?: string }[] };
    routes.set(`/v2/${img.repo}/manifests/t`, json(null));
    refused(await pull(img), /manifest t: expected an object/);
    routes.set(`/v2/${img.repo}/manifests/t`, json({ schemaVersion: 1, name: 'x', fsLayers: [] }, 'application/vnd.docker.distribution.manifest.v1+prettyjws'));
    refused(await pull(img), /manifest t: schema 1 manifests are not supported/);
    routes.set(`/v2/${img.repo}/manifests/t`, json({ schemaVersion: 2, mediaType: 'text/x-evil\u001b[2J' }));
    refused(await pull(img), /manifest t: unsupported media type "text\/x-evil\\u001b\[2J"/);
    routes.set(`/v2/${img.repo}/manifests/t`, json({ ...m, layers: [m.layers[0], { ...m.layers[0], digest: undefined }] }));
    refused(await pull(img), /manifest t: layers\[1\]\.digest: expected a sha256 digest/);
    routes.set(`/v2/${img.repo}/manifests/t`, json({ schemaVersion: 2, manifests: [{ mediaType: OCI_MANIFEST, size: 3, platform: { os: 'linux', architecture: ARCH[process.arch] } }] }, OCI_INDEX));
    refused(await pull(img), /index t: manifests\[0\]\.digest: expected a sha256 digest/);
    routes.set(`/v2/${img.repo}/manifests/t`, json({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: null }, OCI_INDEX));
    refused(await pull(img), /index t: manifests: expected an array/);
    // a config without rootfs.diff_ids (served with its right digest)
    const cfg = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers' } }));
    const m2 = { ...JSON.parse(img.manifest.toString()), config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(cfg), size: cfg.length } };
    routes.set(`/v2/${img.repo}/manifests/t`, json(m2));
    routes.set(`/v2/${img.repo}/blobs/${sha(cfg)}`, json(JSON.parse(cfg.toString()), 'application/octet-stream'));
    refused(await pull(img), new RegExp(`config ${sha(cfg)}: rootfs\\.diff_ids: expected an array`));
  });

  it('a token reply of the wrong shape, or endless', async () => {
    const img = await serveImage();
    const manifest = routes.get(`/v2/${img.repo}/manifests/t`)!;
    let reply: Handler = (_q, res) => res.end('{"token": 5}');
    routes.set('/token', (q, res) => reply(q, res));
    routes.set(`/v2/${img.repo}/manifests/t`, (q, res) => {
      if (q.headers.authorization !== 'Bearer good') {
        res.writeHead(401, { 'www-authenticate': `Bearer realm="http://${host}/token",service="x"`, 'content-length': 0 });
        res.end();
      } else manifest(q, res);
    });
    refused(await pull(img), /token reply from http:\/\/127\.0\.0\.1:\d+: token: expected a non-empty string/);
    reply = endless('application/json', '{"token":"');
    refused(await pull(img), /token reply from http:\/\/127\.0\.0\.1:\d+: .*exceeded maximum allowed size/);
    reply = (_q, res) => res.end('{"token": "good"}');
    const r = await pull(img);
    expect(r.exitCode, r.stderr).toBe(0);
    before = store.snapshot();
  });

  it('what the registry writes in its errors cannot add lines or terminal escapes; --debug adds the stack', async () => {
    const img = await serveImage();
    routes.set(`/v2/${img.repo}/manifests/t`, (_q, res) => {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ errors: [{ code: 'MANIFEST_UNKNOWN', message: 'gone\nmarten: all is well\u001b[2J' }] }));
    });
    refused(await pull(img), /404 Not Found \(not found\): MANIFEST_UNKNOWN gone marten: all is well \[2J$/);
    routes.set(`/v2/${img.repo}/manifests/t`, (_q, res) => {
      res.writeHead(200, { 'content-type': OCI_MANIFEST });
      res.end('null');
    });
    const r = await store.marten(['--debug', 'pull', `${host}/${img.repo}:t`]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/^marten: pulling .*: manifest t: expected an object\n(MincError|Error).*\n\s+at /);
  });

  it('an index naming odd platforms, a redirect to file:', async () => {
    const img = await serveImage();
    const index = Buffer.from(JSON.stringify({
      schemaVersion: 2, mediaType: OCI_INDEX,
      manifests: [{ mediaType: OCI_MANIFEST, digest: img.layerDigest, size: 1, platform: { os: 'plan9\u001b[2J', architecture: 'x\nmarten: ok' } }],
    }));
    routes.set(`/v2/${img.repo}/manifests/t`, (_q, res) => {
      res.writeHead(200, { 'content-type': OCI_INDEX, 'content-length': index.length });
      res.end(index);
    });
    refused(await pull(img), /no image for linux\/\w+ \(it has plan9\?\[2J\/x\?marten: ok; choose with --platform\)$/);
    routes.set(`/v2/${img.repo}/manifests/t`, (_q, res) => {
      res.writeHead(302, { location: 'file:///etc/passwd', 'content-length': 0 });
      res.end();
    });
    refused(await pull(img), /GET \/manifests\/t: the registry redirected to file:\/\/: refused$/);
  });

  it('no space left on device says so, and what was being written', async () => {
    const small = mkdtempSync('/tmp/marten-test-enospc-');
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k,mode=0700', 'tmpfs', small]);
    try {
      const img = await serveImage(2 << 20);
      const s = makeStore();
      const r = await s.marten(['pull', `${host}/${img.repo}:t`], { env: { MINCS_DIR: join(small, 'store') }, timeout: 30_000 });
      expect(r.exitCode).not.toBe(0);
      const lines = r.stderr.trim().split('\n').filter((l) => !/^marten: [0-9a-f]{12}: /.test(l));
      expect(lines, r.stderr).toHaveLength(1);
      expect(lines[0]).toMatch(new RegExp(`blob ${img.layerDigest}: writing .*: no space left on device`));
      expect(readdirSync(join(small, 'store', 'tmp'))).toEqual([]);
      s.remove();
    } finally {
      execFileSync('umount', [small]);
      rmSync(small, { recursive: true, force: true });
    }
  });
});

describe('item 4: a lying registry is refused end to end', () => {
  it('a config whose bytes do not match its digest', async () => {
    const img = await serveImage();
    routes.set(`/v2/${img.repo}/blobs/${img.configDigest}`, (_q, res) => {
      const b = Buffer.from(img.config.toString().replace('"sh"', '"su"'));
      res.writeHead(200, { 'content-length': b.length });
      res.end(b);
    });
    refused(await pull(img), new RegExp(`config ${img.configDigest}: digest mismatch \\(got sha256:[0-9a-f]{64}\\)`));
  });

  it('a layer whose bytes do not match its digest (plain and chunked)', async () => {
    const img = await serveImage();
    const bad = Buffer.from(img.layer);
    bad[bad.length - 3]! ^= 0xff;
    routes.set(`/v2/${img.repo}/blobs/${img.layerDigest}`, (_q, res) => {
      res.writeHead(200, { 'content-length': bad.length });
      res.end(bad);
    });
    const re = new RegExp(`blob ${img.layerDigest}: digest mismatch \\(got ${sha(bad)}\\)`);
    refused(await pull(img), re);
    routes.set(`/v2/${img.repo}/blobs/${img.layerDigest}`, (_q, res) => {
      res.writeHead(200);
      res.end(bad);
    });
    refused(await pull(img), re);
  });

  it('a bad last layer: the good ones before it do not reach blobs/ either', async () => {
    const img = await serveImage(50_000, 3);
    const last = img.layers[2]!;
    routes.set(`/v2/${img.repo}/blobs/${sha(last)}`, (_q, res) => {
      // slower than the others, so they are done and verified first
      setTimeout(() => {
        res.writeHead(200, { 'content-length': last.length });
        res.end(Buffer.alloc(last.length));
      }, 300);
    });
    refused(await pull(img), new RegExp(`blob ${sha(last)}: digest mismatch`));
  });

  it('a layer twice in one image is fetched once and pulls', async () => {
    const img = await serveImage(1000, 3, 1);
    let gets = 0;
    const serve = routes.get(`/v2/${img.repo}/blobs/${img.layerDigest}`)!;
    routes.set(`/v2/${img.repo}/blobs/${img.layerDigest}`, (q, res) => {
      gets++;
      serve(q, res);
    });
    const r = await pull(img);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(gets).toBe(1);
    before = store.snapshot();
  });

  it('an index entry that names a manifest, pointing to something else', async () => {
    const img = await serveImage();
    // the "manifest" the index points to is an index itself
    const inner = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [] }));
    const index = Buffer.from(JSON.stringify({
      schemaVersion: 2, mediaType: OCI_INDEX,
      manifests: [{ mediaType: OCI_MANIFEST, digest: sha(inner), size: inner.length, platform: { os: 'linux', architecture: ARCH[process.arch] } }],
    }));
    routes.set(`/v2/${img.repo}/manifests/t`, (_q, res) => {
      res.writeHead(200, { 'content-type': OCI_INDEX, 'content-length': index.length });
      res.end(index);
    });
    routes.set(`/v2/${img.repo}/manifests/${sha(inner)}`, (_q, res) => {
      res.writeHead(200, { 'content-type': OCI_INDEX, 'content-length': inner.length });
      res.end(inner);
    });
    refused(await pull(img), new RegExp(`manifest ${sha(inner)}: the index says ${OCI_MANIFEST.replace(/[.+]/g, '\\$&')}, the registry sent ${OCI_INDEX.replace(/[.+]/g, '\\$&')}`));
  });
});
