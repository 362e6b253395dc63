/** A push's layer blob (dist.ts layerBlob) with its upload side (tee): packed now, or already stored. */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { layerBlob, storedLayer } from '../../../src/marten/dist.js';
import { Store } from '../../../src/marten/store.js';

const tmp = mkdtempSync('/tmp/marten-unit-dist-');
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** All a stream gets, once it ends. */
async function collect(s: PassThrough): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of s) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

describe('layerBlob with an upload', () => {
  it('packed now: the upload gets the blob stored; stored already (another push got there first): the upload gets that blob, not nothing', async () => {
    const store = new Store(join(tmp, 'store'));
    store.ensure();
    const id = 'a'.repeat(64);
    mkdirSync(join(store.image(id), 'root'), { recursive: true });
    writeFileSync(join(store.image(id), 'root', 'f'), randomBytes(3 << 20));
    writeFileSync(join(store.image(id), 'layer.json'), '{}\n');
    expect(storedLayer(store, id)).toBeNull();
    const first = new PassThrough();
    const [l, sent] = await Promise.all([layerBlob(store, id, first), collect(first)]);
    expect(sent.equals(readFileSync(store.blob(l.blob.digest)))).toBe(true);
    expect(storedLayer(store, id)).toEqual(l);
    const again = new PassThrough();
    const [l2, sent2] = await Promise.all([layerBlob(store, id, again), collect(again)]);
    expect(l2).toEqual(l);
    expect(sent2.equals(sent)).toBe(true);
  });
});
