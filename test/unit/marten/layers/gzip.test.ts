/** Push's gzip: pigz (every core) or node's zlib, the same tar in, a gzip of it out; a failing pigz is one MincError. */
import { createReadStream, createWriteStream, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { MincError } from '../../../../src/errors.js';
import { findPigz, gzipTo } from '../../../../src/marten/layers/gzip.js';
import { packLayer } from '../../../../src/marten/layers/pack.js';

const tmp = mkdtempSync('/tmp/marten-unit-gzip-');
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
// half random (incompressible), half text: several pigz blocks (128 KiB each)
const input = Buffer.concat([randomBytes(1 << 20), Buffer.from('layer '.repeat(200_000))]);
writeFileSync(join(tmp, 'in'), input);

async function gz(pigz: string | null, name: string): Promise<Buffer> {
  await gzipTo([createReadStream(join(tmp, 'in'))], [createWriteStream(join(tmp, name))], pigz);
  return readFileSync(join(tmp, name));
}

describe('gzipTo', () => {
  it('finds pigz on PATH (CI installs it), never through a relative PATH entry', () => {
    expect(findPigz()).toMatch(/\/pigz$/);
    expect(findPigz('.:bin:usr/bin')).toBeNull();
    expect(findPigz('/nonexistent')).toBeNull();
  });

  it('pigz and zlib both give a gzip of the input; pigz gives the same bytes each time (no name, no time stamp)', async () => {
    const a = await gz(findPigz(), 'a.gz');
    const b = await gz(findPigz(), 'b.gz');
    const z = await gz(null, 'z.gz');
    expect(gunzipSync(a).equals(input)).toBe(true);
    expect(gunzipSync(z).equals(input)).toBe(true);
    expect(a.equals(b)).toBe(true);
    expect(a[3]! & 0x08).toBe(0); // FNAME unset
    expect(a.readUInt32LE(4)).toBe(0); // MTIME 0
  });

  it('a pigz that fails is one MincError with its message', async () => {
    const fake = join(tmp, 'pigz');
    writeFileSync(fake, '#!/bin/sh\ncat >/dev/null; echo "pigz: abort: out of memory" >&2; exit 1\n', { mode: 0o755 });
    const err = await gz(fake, 'f.gz').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MincError);
    expect((err as Error).message).toBe('pigz: pigz: abort: out of memory');
  });

  it('packLayer through pigz: the DiffID is the plain tar\'s, the digest the gzip\'s', async () => {
    const root = join(tmp, 'root');
    mkdirSync(root);
    writeFileSync(join(root, 'f'), input);
    const plain = await packLayer(root, join(tmp, 'l.tar'), false);
    const packed = await packLayer(root, join(tmp, 'l.tar.gz'), true, findPigz());
    const zlib = await packLayer(root, join(tmp, 'l2.tar.gz'), true, null);
    expect(packed.diffId).toBe(plain.diffId);
    expect(zlib.diffId).toBe(plain.diffId);
    expect(gunzipSync(readFileSync(join(tmp, 'l.tar.gz'))).equals(readFileSync(join(tmp, 'l.tar')))).toBe(true);
    expect(packed.size).toBe(readFileSync(join(tmp, 'l.tar.gz')).length);
  });
});
