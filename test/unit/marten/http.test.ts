/** http.ts: bounded bodies, blobs bounded by their descriptor, stall timeouts, error replies (a node:http server on 127.0.0.1). */
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { MincError } from '../../../src/errors.js';
import { errorDetail, httpGet, readBounded, saveBlob, stallMs } from '../../../src/marten/registry/http.js';

const routes: Record<string, (q: IncomingMessage, r: ServerResponse) => void> = {};
let server: Server;
let base: string;
let dir: string;
const blob = Buffer.from('0123456789'.repeat(1000));
const digest = `sha256:${createHash('sha256').update(blob).digest('hex')}`;

beforeAll(async () => {
  dir = mkdtempSync('/tmp/marten-http-');
  server = createServer((q, r) => routes[q.url!]!(q, r));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
afterEach(() => {
  delete process.env.MARTEN_STALL_TIMEOUT_MS;
});
afterAll(() => {
  server.closeAllConnections();
  server.close();
  rmSync(dir, { recursive: true, force: true });
});

const get = (path: string): Promise<IncomingMessage> => httpGet(new URL(`${base}${path}`), {}, `thing ${path}`);
const thrown = async (p: Promise<unknown>): Promise<string> => {
  const e = await p.then(() => null, (err: unknown) => err);
  expect(e).toBeInstanceOf(MincError);
  return (e as Error).message;
};

describe('readBounded', () => {
  it('reads a body within its limit, refuses one above it by Content-Length or at the first byte past it', async () => {
    routes['/ok'] = (_q, r) => r.end('{"a":1}');
    expect((await readBounded(await get('/ok'), 'm', 7)).toString()).toBe('{"a":1}');
    routes['/big'] = (_q, r) => {
      r.writeHead(200, { 'content-length': 5 << 20 });
      r.write('x');
    };
    expect(await thrown(readBounded(await get('/big'), 'manifest t'))).toBe('manifest t: exceeded maximum allowed size (4 MiB); the registry is broken or hostile');
    routes['/chunked'] = (_q, r) => r.end('x'.repeat(101));
    expect(await thrown(readBounded(await get('/chunked'), 'm', 100))).toMatch(/^m: exceeded maximum allowed size \(100 bytes\)/);
  });

  it('says when the connection closed early, and gives up a stalled one', async () => {
    routes['/cut'] = (_q, r) => {
      r.writeHead(200, { 'content-length': 50 });
      r.write('x'.repeat(20), () => setTimeout(() => r.socket?.destroy(), 20));
    };
    expect(await thrown(readBounded(await get('/cut'), 'config c'))).toBe('config c: the connection closed early after 20 of 50 bytes');
    process.env.MARTEN_STALL_TIMEOUT_MS = '300';
    expect(stallMs()).toBe(300);
    routes['/stall'] = (_q, r) => {
      r.writeHead(200, { 'content-length': 50 });
      r.write('x');
    };
    const t0 = Date.now();
    expect(await thrown(readBounded(await get('/stall'), 'thing /stall'))).toBe('thing /stall: no data for 0.3 s (the registry stalled; try again later)');
    expect(Date.now() - t0).toBeLessThan(3000);
    routes['/silent'] = () => undefined;
    expect(await thrown(get('/silent'))).toBe('thing /silent: no data for 0.3 s (the registry stalled; try again later)');
  });

  it('the stall timeout knob takes only a positive whole number', () => {
    for (const v of ['', '0', '-5', 'abc', '1.5']) expect(stallMs({ MARTEN_STALL_TIMEOUT_MS: v })).toBe(60_000);
    expect(stallMs({})).toBe(60_000);
  });
});

describe('saveBlob', () => {
  it('writes a blob of its descriptor size and gives its digest', async () => {
    routes['/b'] = (_q, r) => r.end(blob);
    const file = join(dir, 'b');
    let n = 0;
    expect(await saveBlob(await get('/b'), 'blob B', blob.length, file, (k) => (n += k))).toBe(digest);
    expect(readFileSync(file).equals(blob)).toBe(true);
    expect(n).toBe(blob.length);
  });

  it('refuses a Content-Length other than the size before making the file, and a chunked body past it', async () => {
    routes['/cl'] = (_q, r) => {
      r.writeHead(200, { 'content-length': blob.length });
      r.end(blob);
    };
    const file = join(dir, 'cl');
    expect(await thrown(saveBlob(await get('/cl'), 'blob B', blob.length - 1, file))).toBe(`blob B: the registry says Content-Length ${blob.length}, its descriptor says ${blob.length - 1} bytes: refused`);
    expect(existsSync(file)).toBe(false);
    routes['/chunked-b'] = (_q, r) => {
      r.write(blob);
      r.end();
    };
    expect(await thrown(saveBlob(await get('/chunked-b'), 'blob B', 100, join(dir, 'ch')))).toBe('blob B: the registry sent more than the 100 bytes its descriptor says');
    expect(await thrown(saveBlob(await get('/chunked-b'), 'blob B', blob.length + 5, join(dir, 'short')))).toBe(`blob B: the reply ended after ${blob.length} of ${blob.length + 5} bytes`);
  });

  it('never writes through an existing file (a planted link)', async () => {
    const file = join(dir, 'exists');
    await import('node:fs').then((fs) => fs.symlinkSync('/nonexistent-target', file));
    expect(await thrown(saveBlob(await get('/b'), 'blob B', blob.length, file))).toMatch(/^blob B: writing .*EEXIST/);
  });
});

describe('errorDetail', () => {
  it("gives the registry's error codes and messages on one line, control characters gone", () => {
    expect(errorDetail(Buffer.from('{"errors":[{"code":"A","message":"b\\nc\\u001b[1m"},{"code":"D"}]}'))).toBe('A b c [1m; D');
    for (const bad of ['', 'null', '{"errors":null}', '{"errors":[null,5,{"code":{}}]}', 'not json']) expect(errorDetail(Buffer.from(bad))).toBe('');
  });
});
