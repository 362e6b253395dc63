/** -t DIR checks (src/run/reuse.ts): a minc temp dir, or a new one; never someone else's. */
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkTempdir } from '../../../src/run/reuse.js';

const scratch = mkdtempSync('/tmp/minc-unit-reuse-');
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
const uid = process.getuid?.() ?? 0;

describe('checkTempdir', () => {
  it('takes a new path whose parent exists, and an empty dir, as fresh', () => {
    expect(checkTempdir(join(scratch, 'new'))).toEqual({ dir: join(scratch, 'new'), fresh: true });
    const empty = join(scratch, 'empty');
    mkdirSync(empty, { mode: 0o700 });
    expect(checkTempdir(empty)).toEqual({ dir: empty, fresh: true });
    expect(() => checkTempdir(join(scratch, 'no/such/new'))).toThrow(/parent does not exist/);
  });

  it('takes a dir with settings and no links', () => {
    const d = join(scratch, 'kept');
    mkdirSync(d, { mode: 0o700 });
    mkdirSync(join(d, 'storage'));
    writeFileSync(join(d, 'settings'), '{}');
    expect(checkTempdir(d)).toEqual({ dir: d, fresh: false });
    symlinkSync('/etc/hostname', join(d, 'hosts'));
    expect(() => checkTempdir(d)).toThrow(/entry 'hosts' is a symbolic link/);
  });

  it("refuses another user's dir, one others may write, one that is not minc's, / and option characters", () => {
    const d = join(scratch, 'other');
    mkdirSync(d, { mode: 0o700 });
    writeFileSync(join(d, 'settings'), '{}');
    expect(() => checkTempdir(d, { uid: uid + 1 })).toThrow(new RegExp(`owned by uid ${uid}, not by you`));
    chmodSync(d, 0o757);
    expect(() => checkTempdir(d)).toThrow(/writable by others \(mode 0757\)/);
    const plain = join(scratch, 'plain');
    mkdirSync(plain, { mode: 0o700 });
    writeFileSync(join(plain, 'x'), '');
    expect(() => checkTempdir(plain)).toThrow(/not a minc temporary directory/);
    expect(() => checkTempdir(plain, { container: true })).not.toThrow();
    expect(() => checkTempdir('/')).toThrow(/\/ is not a temporary directory/);
    for (const p of [`${scratch}/a,b`, `${scratch}/a:b`, `${scratch}/a\\b`]) expect(() => checkTempdir(p)).toThrow(/',', ':' or '\\'/);
    expect(() => checkTempdir(`${scratch}/a\nb`)).toThrow(/newline/);
    if (uid === 0) {
      chmodSync(d, 0o700);
      chownSync(d, 65534, 65534);
      expect(() => checkTempdir(d)).toThrow(/owned by uid 65534/);
    }
  });
});
