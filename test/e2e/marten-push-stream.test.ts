/**
 * A first push streams each layer (issue 12): packed and gzipped straight
 * into a chunked upload (POST, PATCH of what comes, PUT ?digest=) while the
 * same bytes go to the store.  Against a node:http registry on 127.0.0.1 in
 * this process: what it receives is the stored blob, and a PATCH refused,
 * a registry that stops reading, or a gzip program that fails mid-way end in
 * one `marten:` line, quickly, with nothing half-made left behind (no temp
 * blob; the layer either still unpacked, or packed whole if the packing had
 * finished before the upload failed) and the other side stopped.
 */
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { makeStore, ok, type Run, type TestStore } from '../helpers/marten.js';

type Handler = (req: IncomingMessage, res: ServerResponse, body: () => Promise<Buffer>) => void;

let server: Server;
let host: string;
let store: TestStore;
let tmp: string;
let layerJson: string;
/** what the registry saw: method, path and query, headers, body (when read) */
const seen: { method: string; url: string; headers: IncomingMessage['headers']; body?: Buffer; aborted?: boolean }[] = [];
let onPatch: Handler;

const sha = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const readAll = async (req: IncomingMessage): Promise<Buffer> => {
  const parts: Buffer[] = [];
  for await (const c of req) parts.push(c as Buffer);
  return Buffer.concat(parts);
};
/** The registry's usual answer to a PATCH: the whole body read, 202 and where to go on. */
const acceptPatch: Handler = async (_req, res, body) => {
  if (!(await body().then(() => true, () => false))) return; // cut short by the client
  res.writeHead(202, { location: '/v2/t/img/blobs/uploads/u1-next', range: '0-0', 'content-length': 0 });
  res.end();
};

const layerId = (): string => readdirSync(join(store.dir, 'images'))[0]!;
const blobs = (): string => join(store.dir, 'blobs', 'sha256');

/** The layer never pushed: no blob, its layer.json as the import left it. */
function unpacked(): void {
  rmSync(blobs(), { recursive: true, force: true });
  mkdirSync(blobs(), { mode: 0o700 });
  writeFileSync(join(store.dir, 'images', layerId(), 'layer.json'), layerJson);
}

/**
 * One error line, non-zero, no stack; no temp blob; the layer as it was, or (the packing
 * done before the upload failed: the registry's socket took it all) packed whole, its
 * layer.json naming a stored blob of that digest.
 */
function refused(r: Run, re: RegExp): void {
  expect(r.exitCode, r.stderr).not.toBe(0);
  const lines = r.stderr.trim().split('\n').filter((l) => !/^marten: [0-9a-f]{12}: /.test(l));
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(re);
  expect(r.stderr).not.toMatch(/^\s+at /m);
  const names = readdirSync(blobs());
  expect(names.filter((n) => n.startsWith('.'))).toEqual([]);
  const now = readFileSync(join(store.dir, 'images', layerId(), 'layer.json'), 'utf8');
  if (now === layerJson) expect(names).toEqual([]);
  else {
    const { digest } = JSON.parse(now) as { digest: string };
    expect(names).toEqual([digest.slice(7)]);
    expect(sha(readFileSync(join(blobs(), names[0]!)))).toBe(digest);
  }
  expect(readdirSync(join(store.dir, 'tmp'))).toEqual([]);
}

const push = (env: Record<string, string> = {}): Promise<Run> =>
  store.marten(['push', 'img', `${host}/t/img:v1`], { env: { MARTEN_STALL_TIMEOUT_MS: '700', ...env }, timeout: 30_000 });

beforeAll(async () => {
  server = createServer((req, res) => {
    const entry: (typeof seen)[number] = { method: req.method ?? '', url: req.url ?? '', headers: req.headers };
    seen.push(entry);
    req.on('close', () => { entry.aborted = !req.complete; });
    const body = async (): Promise<Buffer> => (entry.body = await readAll(req));
    const path = entry.url.split('?')[0]!;
    if (path === '/v2/') {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': 2 });
      res.end('{}');
    } else if (req.method === 'POST' && path === '/v2/t/img/blobs/uploads/') {
      res.writeHead(202, { location: '/v2/t/img/blobs/uploads/u1', 'content-length': 0 });
      res.end();
    } else if (req.method === 'PATCH' && path === '/v2/t/img/blobs/uploads/u1') {
      onPatch(req, res, body);
    } else if (req.method === 'PUT' && path.startsWith('/v2/t/img/')) {
      void body().then(() => {
        res.writeHead(201, { 'content-length': 0 });
        res.end();
      }, () => undefined);
    } else {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end('{"errors":[{"code":"BLOB_UNKNOWN","message":"no such thing"}]}');
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  host = `127.0.0.1:${(server.address() as { port: number }).port}`;
  tmp = mkdtempSync('/tmp/marten-push-stream-');
  // a tree that is a few MiB gzipped (random bytes), several chunks of the upload
  const root = join(tmp, 'root');
  mkdirSync(join(root, 'etc'), { recursive: true });
  writeFileSync(join(root, 'etc', 'hello'), 'hello\n');
  writeFileSync(join(root, 'big'), randomBytes(3 << 20));
  store = makeStore();
  ok(await store.marten(['import', root, '--name', 'img']));
  layerJson = readFileSync(join(store.dir, 'images', layerId(), 'layer.json'), 'utf8');
});
beforeEach(() => {
  seen.length = 0;
  onPatch = acceptPatch;
  unpacked();
});
afterAll(() => {
  server?.closeAllConnections();
  server?.close();
  store?.remove();
  rmSync(tmp, { recursive: true, force: true });
});

describe('a first push streams each layer into a chunked upload', () => {
  it('a PATCH refused with an endless error reply: one line, quickly, no temp blob, the layer still unpacked', async () => {
    onPatch = (_req, res) => {
      res.writeHead(500, { 'content-type': 'application/json' });
      res.write('{"errors":[{"code":"X","message":"');
      const more = (): void => {
        while (!res.destroyed && res.write(Buffer.alloc(64 << 10, 0x20)));
        if (!res.destroyed) res.once('drain', more);
      };
      res.on('close', () => res.removeAllListeners('drain'));
      more();
    };
    const t0 = Date.now();
    refused(await push(), /^marten: pushing img to .*: layer [0-9a-f]{12}: PATCH http:\/\/127\.0\.0\.1:\d+\/v2\/t\/img\/blobs\/uploads\/u1: 500 Internal Server Error$/);
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(seen.some((s) => s.method === 'PUT')).toBe(false);
  });

  it('a registry that stops reading the PATCH: the stall timeout, one line, nothing left', async () => {
    onPatch = () => undefined; // headers read, the body never
    const t0 = Date.now();
    refused(await push(), /layer [0-9a-f]{12}: PATCH http:\/\/127\.0\.0\.1:\d+\/v2\/t\/img\/blobs\/uploads\/u1: no data for 0\.7 s/);
    expect(Date.now() - t0).toBeLessThan(10_000);
  });

  it('a gzip program that fails mid-way: its message in one line, the upload cut short, nothing left', async () => {
    const bin = join(tmp, 'bin');
    mkdirSync(bin, { recursive: true });
    writeFileSync(join(bin, 'igzip'), '#!/bin/sh\nhead -c 100000 | gzip -c\necho "igzip: out of disk" >&2\nexit 1\n');
    chmodSync(join(bin, 'igzip'), 0o755);
    refused(await push({ PATH: `${bin}:${process.env.PATH}` }), /^marten: pushing img to .*: layer [0-9a-f]{12}: packing .* as a layer: igzip: igzip: out of disk$/);
    const patch = seen.find((s) => s.method === 'PATCH');
    expect(patch).toBeDefined();
    await new Promise((r) => setTimeout(r, 100));
    expect(patch!.aborted).toBe(true); // the registry never got an upload that looked whole
    expect(seen.some((s) => s.method === 'PUT')).toBe(false);
  });

  it('what the registry receives is the stored blob: PATCH chunked, then PUT ?digest= of it; progress lines say so', async () => {
    const r = ok(await push());
    const patch = seen.find((s) => s.method === 'PATCH')!;
    expect(patch.headers['transfer-encoding']).toBe('chunked');
    expect(patch.headers['content-length']).toBeUndefined();
    const digest = sha(patch.body!);
    const put = seen.find((s) => s.method === 'PUT' && s.url.startsWith('/v2/t/img/blobs/uploads/u1-next?'))!;
    expect(new URL(put.url, 'http://x').searchParams.get('digest')).toBe(digest);
    expect(put.body!.length).toBe(0);
    // the store kept the same bytes under that digest, and layer.json names it
    expect(readFileSync(join(store.dir, 'blobs', 'sha256', digest.slice(7))).equals(patch.body!)).toBe(true);
    const info = JSON.parse(readFileSync(join(store.dir, 'images', layerId(), 'layer.json'), 'utf8')) as { digest: string; diffId: string };
    expect(info.digest).toBe(digest);
    expect(sha(gunzipSync(patch.body!))).toBe(info.diffId);
    expect(layerJson).not.toContain(digest);
    const id = layerId().slice(0, 12);
    expect(r.stderr).toContain(`marten: ${id}: push (packing)\n`);
    expect(r.stderr).toContain(`marten: ${id}: pushed as ${digest.slice(7, 19)} (`);
  });
});
