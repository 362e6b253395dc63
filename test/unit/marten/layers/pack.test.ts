/** Packing a layer dir keeps name bytes (not UTF-8, long: pax), links and hard links; GNU tar reads it back the same. */
import { execFileSync } from 'node:child_process';
import { linkSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { packLayer } from '../../../../src/marten/layers/pack.js';

const tmp = mkdtempSync('/tmp/marten-unit-pack-');
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const b = (s: string): Buffer => Buffer.from(s, 'latin1');
const p = (...parts: string[]): Buffer => b([tmp, ...parts].join('/'));

describe('packLayer', () => {
  it('keeps names that are not UTF-8, long names and link targets byte for byte', async () => {
    const long = `${'L'.repeat(150)}\xff/${'m'.repeat(120)}\xfe`;
    mkdirSync(p('root', `${'L'.repeat(150)}\xff`), { recursive: true });
    writeFileSync(p('root', '\xffx'), 'one\n');
    writeFileSync(p('root', long), 'two\n');
    symlinkSync(b(`/\xffx/${'t'.repeat(200)}`), p('root', 'lnk'));
    linkSync(p('root', '\xffx'), p('root', 'hard'));
    const file = join(tmp, 'layer.tar');
    const r = await packLayer(join(tmp, 'root'), file, { gzip: false });
    expect(r.diffId).toMatch(/^sha256:[0-9a-f]{64}$/);
    const list = execFileSync('tar', ['--quoting-style=literal', '-tvf', file]).toString('latin1');
    expect(list).toContain(`lnk -> /\xffx/${'t'.repeat(200)}`);
    expect(list).toMatch(/hard link to \xffx|\xffx link to hard/);
    const out = join(tmp, 'out');
    mkdirSync(out);
    execFileSync('tar', ['-xf', file, '-C', out]);
    expect(readFileSync(b(`${out}/\xffx`), 'utf8')).toBe('one\n');
    expect(readFileSync(b(`${out}/${long}`), 'utf8')).toBe('two\n');
    expect(execFileSync('find', [out, '-printf', '%P\\n']).toString('latin1').split('\n').filter(Boolean).sort())
      .toEqual(['\xffx', `${'L'.repeat(150)}\xff`, long, 'hard', 'lnk'].sort());
  });
});
