/** The host walk of an apply: never through a symlink, names as bytes. */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { HostTree } from '../../../src/review/hostfs.js';

const dir = mkdtempSync('/tmp/minc-unit-hostfs-');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('HostTree', () => {
  it('opens parents one component at a time and refuses a symlink among them', () => {
    const root = join(dir, 'root');
    const outside = join(dir, 'outside');
    mkdirSync(join(root, 'a/b'), { recursive: true });
    mkdirSync(outside);
    writeFileSync(join(outside, 'secret'), 's');
    symlinkSync(outside, join(root, 'a/link'));
    writeFileSync(join(root, 'a/file'), 'f');
    const t = new HostTree(root);
    try {
      expect(t.dir(Buffer.from('/a/b'))).toBeTypeOf('number');
      expect(t.dir(Buffer.from('/a/missing'))).toBeNull();
      expect(() => t.dir(Buffer.from('/a/link'))).toThrow(/a\/link on the host is a symbolic link or not a directory: not writing through it/);
      expect(() => t.lstat(Buffer.from('/a/link/secret'))).toThrow(/symbolic link/);
      expect(() => t.dir(Buffer.from('/a/file'))).toThrow(/not a directory/);
      expect(t.lstat(Buffer.from('/a/link'))?.isSymbolicLink()).toBe(true);
      expect(t.lstat(Buffer.from('/a/file'))?.size).toBe(1);
    } finally {
      t.close();
    }
  });
});
