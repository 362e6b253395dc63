/** Push's gzip: igzip, pigz (every core) or node's zlib, the same tar in, a gzip of it out; a failing tool is one MincError. */
import { createReadStream, createWriteStream, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { MincError } from '../../../../src/errors.js';
import { findGzipper, findOnPath, findPigz, gzipTo, igzipAt, pigzAt, type Gzipper } from '../../../../src/marten/layers/gzip.js';
import { packLayer } from '../../../../src/marten/layers/pack.js';

const tmp = mkdtempSync('/tmp/marten-unit-gzip-');
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
// half random (incompressible), half text: several pigz blocks (1 MiB each)
const input = Buffer.concat([randomBytes(1 << 20), Buffer.from('layer '.repeat(200_000))]);
writeFileSync(join(tmp, 'in'), input);

async function gz(tool: Gzipper | null, name: string): Promise<Buffer> {
  await gzipTo([createReadStream(join(tmp, 'in'))], [createWriteStream(join(tmp, name))], tool);
  return readFileSync(join(tmp, name));
}

describe('gzipTo', () => {
  it('finds igzip and pigz on PATH (CI installs both), never through a relative PATH entry; igzip first', () => {
    expect(findPigz()).toMatch(/\/pigz$/);
    expect(findOnPath('igzip')).toMatch(/\/igzip$/);
    expect(findGzipper()?.path).toMatch(/\/igzip$/);
    expect(findPigz('.:bin:usr/bin')).toBeNull();
    expect(findGzipper('.:bin:usr/bin')).toBeNull();
    expect(findGzipper('/nonexistent')).toBeNull();
    // a PATH with pigz and no igzip: pigz
    const only = join(tmp, 'only-pigz');
    mkdirSync(only);
    symlinkSync(findPigz()!, join(only, 'pigz'));
    expect(findGzipper(only)).toEqual(pigzAt(join(only, 'pigz')));
  });

  it('igzip, pigz and zlib each give a gzip of the input; igzip and pigz give the same bytes each time (no name, no time stamp)', async () => {
    const z = await gz(null, 'z.gz');
    expect(gunzipSync(z).equals(input)).toBe(true);
    for (const tool of [igzipAt(findOnPath('igzip')!), pigzAt(findPigz()!)]) {
      const a = await gz(tool, 'a.gz');
      const b = await gz(tool, 'b.gz');
      expect(gunzipSync(a).equals(input)).toBe(true);
      expect(a.equals(b)).toBe(true);
      expect(a.equals(z)).toBe(false); // it was this tool that ran
      expect(a[3]! & 0x08).toBe(0); // FNAME unset
      expect(a.readUInt32LE(4)).toBe(0); // MTIME 0
    }
  });

  it('a pigz that fails is one MincError with its message', async () => {
    const fake = join(tmp, 'pigz');
    writeFileSync(fake, '#!/bin/sh\ncat >/dev/null; echo "pigz: abort: out of memory" >&2; exit 1\n', { mode: 0o755 });
    const err = await gz(pigzAt(fake), 'f.gz').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MincError);
    expect((err as Error).message).toBe('pigz: pigz: abort: out of memory');
  });

  it('a program that stops reading and fails: its own message, not the EPIPE of its input', async () => {
    const fake = join(tmp, 'igzip');
    writeFileSync(fake, '#!/bin/sh\nhead -c 1000 >/dev/null; echo "igzip: broke" >&2; exit 3\n', { mode: 0o755 });
    // (its own words: its exit came within the grace marten gives it after the EPIPE, else the EPIPE would be the error)
    const err = await gz(igzipAt(fake), 'g.gz').catch((e: unknown) => e);
    expect((err as Error).message).toBe('igzip: igzip: broke');
  });

  it('packLayer through igzip and pigz: the DiffID is the plain tar\'s, the digest the gzip\'s', async () => {
    const root = join(tmp, 'root');
    mkdirSync(root);
    writeFileSync(join(root, 'f'), input);
    const plain = await packLayer(root, join(tmp, 'l.tar'), { gzip: false });
    const packed = await packLayer(root, join(tmp, 'l.tar.gz'), { gzipper: pigzAt(findPigz()!) });
    const zlib = await packLayer(root, join(tmp, 'l2.tar.gz'), { gzipper: null });
    const igzip = await packLayer(root, join(tmp, 'l3.tar.gz'), { gzipper: igzipAt(findOnPath('igzip')!) });
    expect(packed.diffId).toBe(plain.diffId);
    expect(igzip.diffId).toBe(plain.diffId);
    expect(gunzipSync(readFileSync(join(tmp, 'l3.tar.gz'))).equals(readFileSync(join(tmp, 'l.tar')))).toBe(true);
    expect(igzip.digest).toBe(`sha256:${createHash('sha256').update(readFileSync(join(tmp, 'l3.tar.gz'))).digest('hex')}`);
    expect(zlib.diffId).toBe(plain.diffId);
    expect(gunzipSync(readFileSync(join(tmp, 'l.tar.gz'))).equals(readFileSync(join(tmp, 'l.tar')))).toBe(true);
    expect(packed.size).toBe(readFileSync(join(tmp, 'l.tar.gz')).length);
  });
});
