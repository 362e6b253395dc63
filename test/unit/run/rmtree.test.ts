import { existsSync, mkdirSync, mkdtempSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { removeTree } from '../../../src/run/rmtree.js';

describe('removeTree', () => {
  const made: string[] = [];
  const scratch = (): string => {
    const d = mkdtempSync(join(tmpdir(), 'rmtree-'));
    made.push(d);
    return d;
  };
  afterEach(async () => {
    const { rmSync } = await import('node:fs');
    for (const d of made.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('removes nested files, empty dirs and symlinks, without following a symlink', () => {
    const base = scratch();
    const outside = join(base, 'outside');
    mkdirSync(outside);
    writeFileSync(join(outside, 'keep'), 'x');
    const t = join(base, 'tree');
    mkdirSync(join(t, 'a/b/c'), { recursive: true });
    mkdirSync(join(t, 'empty'));
    writeFileSync(join(t, 'a/f'), '1');
    writeFileSync(join(t, 'a/b/c/g'), '2');
    symlinkSync(outside, join(t, 'link-to-dir'));
    symlinkSync('/nonexistent', join(t, 'dangling'));
    removeTree(t);
    expect(existsSync(t)).toBe(false);
    expect(readdirSync(outside)).toEqual(['keep']);
  });

  it('removes a lone file, and a missing path is not an error', () => {
    const base = scratch();
    writeFileSync(join(base, 'f'), '');
    removeTree(join(base, 'f'));
    expect(existsSync(join(base, 'f'))).toBe(false);
    expect(() => removeTree(join(base, 'missing'))).not.toThrow();
  });

  it('reports what it cannot remove', () => {
    const base = scratch();
    writeFileSync(join(base, 'file'), '');
    expect(() => removeTree(join(base, 'file/below'))).toThrow(/ENOTDIR/);
  });
});
