/** The export's tar writer: an entry named by its digest once written, read back by GNU tar and tar-stream; sizes past 8 GiB in base-256. */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { fileHeader, TarFile } from '../../../../src/marten/formats/tarfile.js';

const tmp = mkdtempSync('/tmp/marten-unit-tarfile-');
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('TarFile', () => {
  it('writes a streamed entry under the name of its sha256, small and big pieces alike', async () => {
    const pieces = [Buffer.alloc(512, 1), Buffer.alloc(3 << 20, 2), Buffer.from('tail'), Buffer.alloc(700_000, 3)];
    const all = Buffer.concat(pieces);
    const hex = createHash('sha256').update(all).digest('hex');
    const file = join(tmp, 'a.tar');
    const fd = openSync(file, 'wx', 0o600);
    const t = new TarFile(fd);
    t.dir('blobs/');
    const got = await t.stream(Readable.from(pieces), (d) => `blobs/${d.slice(7)}`);
    // a sync iterable too (a layer walked)
    const again = await t.stream(pieces, (d) => `blobs/again-${d.slice(7)}`);
    t.file('index.json', '{"a":1}');
    t.end();
    closeSync(fd);
    expect(again).toEqual(got);
    expect(got).toEqual({ digest: `sha256:${hex}`, size: all.length });
    expect(execFileSync('tar', ['-tf', file], { encoding: 'utf8' }).split('\n').filter(Boolean)).toEqual(['blobs/', `blobs/${hex}`, `blobs/again-${hex}`, 'index.json']);
    const x = mkdtempSync(join(tmp, 'x-'));
    execFileSync('tar', ['-xf', file, '-C', x]);
    expect(readFileSync(join(x, 'blobs', hex)).equals(all)).toBe(true);
    expect(readFileSync(join(x, 'blobs', `again-${hex}`)).equals(all)).toBe(true);
    expect(readFileSync(join(x, 'index.json'), 'utf8')).toBe('{"a":1}');
  });

  it('a size of 8 GiB or more goes in GNU base-256, with a checksum that holds', () => {
    const size = 2 ** 34 + 5;
    const h = fileHeader('blobs/sha256/x', size);
    expect(h.length).toBe(512);
    expect(h[124]).toBe(0x80);
    expect(h.readBigUInt64BE(128)).toBe(BigInt(size));
    const stored = parseInt(h.subarray(148, 154).toString('latin1'), 8);
    const copy = Buffer.from(h);
    copy.fill(0x20, 148, 156);
    expect(copy.reduce((a, b) => a + b, 0)).toBe(stored);
    expect(fileHeader('f', 10).subarray(124, 136).toString('latin1')).toBe('00000000012\0');
  });
});
