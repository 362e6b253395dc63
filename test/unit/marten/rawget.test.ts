/** rawget.ts: the bare-socket blob GET takes only the plain case and hands everything else back. */
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawGet } from '../../../src/marten/registry/rawget.js';

const blob = Buffer.alloc(3 << 20);
for (let i = 0; i < blob.length; i++) blob[i] = (i * 7919) & 0xff;
const digest = `sha256:${createHash('sha256').update(blob).digest('hex')}`;
let server: Server;
let base: string;
let dir: string;
const seen: Record<string, string | undefined> = {};

beforeAll(async () => {
  dir = mkdtempSync('/tmp/marten-rawget-');
  server = createServer((req, res) => {
    seen[req.url!] = req.headers.authorization;
    if (req.url === '/plain') {
      res.writeHead(200, { 'content-length': blob.length });
      // in pieces, so reads split anywhere
      for (let o = 0; o < blob.length; o += 100_003) res.write(blob.subarray(o, o + 100_003));
      res.end();
    } else if (req.url === '/chunked') {
      res.writeHead(200);
      res.end(blob);
    } else if (req.url === '/empty') {
      res.writeHead(200, { 'content-length': 0 });
      res.end();
    } else if (req.url === '/redirect') {
      res.writeHead(307, { location: '/plain', 'content-length': 0 });
      res.end();
    } else {
      res.writeHead(404, { 'content-length': 2 });
      res.end('{}');
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const a = server.address() as { port: number };
  base = `http://127.0.0.1:${a.port}`;
});
afterAll(() => {
  server.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('rawGet', () => {
  it('downloads a 200 with a Content-Length: hashed, written, counted, headers sent', async () => {
    let n = 0;
    const file = join(dir, 'plain');
    const r = await rawGet({ url: `${base}/plain`, headers: { authorization: 'Bearer x' }, file, size: blob.length, what: 'blob P' }, (b) => (n += b));
    expect(r).toEqual({ status: 200, digest, size: blob.length });
    expect(n).toBe(blob.length);
    expect(readFileSync(file).equals(blob)).toBe(true);
    expect(seen['/plain']).toBe('Bearer x');
    const e = await rawGet({ url: `${base}/empty`, headers: {}, file: join(dir, 'empty'), size: 0, what: 'blob E' }, () => undefined);
    expect(e).toEqual({ status: 200, digest: `sha256:${createHash('sha256').digest('hex')}`, size: 0 });
  });

  it('hands back what is not plain before writing anything: chunked, a redirect, a 404, https', async () => {
    for (const [path, status] of [['/chunked', -1], ['/redirect', 307], ['/nope', 404]] as const) {
      const file = join(dir, `x${status}`);
      expect(await rawGet({ url: `${base}${path}`, headers: {}, file, size: blob.length, what: 'blob X' }, () => undefined)).toEqual({ status });
      expect(existsSync(file)).toBe(false);
    }
    expect(await rawGet({ url: 'https://127.0.0.1:1/v2/', headers: {}, file: join(dir, 'tls'), size: 1, what: 'blob T' }, () => undefined)).toEqual({ status: -1 });
  });

  it('fails when the connection ends before the blob does, or cannot be made', async () => {
    const cut = createNetServer((s) => s.end('HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nshort'));
    await new Promise<void>((r) => cut.listen(0, '127.0.0.1', r));
    const port = (cut.address() as { port: number }).port;
    await expect(rawGet({ url: `http://127.0.0.1:${port}/b`, headers: {}, file: join(dir, 'cut'), size: 1000, what: 'blob C' }, () => undefined)).rejects.toThrow(/^blob C: the connection closed early after 5 of 1000 bytes$/);
    cut.close();
    await expect(rawGet({ url: 'http://127.0.0.1:1/b', headers: {}, file: join(dir, 'refused'), size: 1, what: 'blob R' }, () => undefined)).rejects.toThrow(/ECONNREFUSED/);
  });
});
