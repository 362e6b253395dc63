import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { listTempdirs, removeTempdir, tempBase } from '../../../src/run/tempdir.js';

const scratch = mkdtempSync(join(tmpdir(), 'minc-tempdir-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('removeTempdir', () => {
  it('removes a run\'s dir and all in it', () => {
    const d = join(scratch, 'minc1-aaaaaa');
    mkdirSync(join(d, 'storage/x'), { recursive: true });
    writeFileSync(join(d, 'settings'), '{}');
    removeTempdir(d);
    expect(existsSync(d)).toBe(false);
  });

  it('refuses while its undo file says network or cgroup setup is not all undone, naming --gc', () => {
    const d = join(scratch, 'minc2-bbbbbb');
    mkdirSync(d);
    writeFileSync(join(d, 'undo'), "undo_step 'Remove the cgroups' cg_remove /sys/fs/cgroup/pids/mincs/minc2-bbbbbb\n");
    expect(() => removeTempdir(d)).toThrow(/not removing .*minc2-bbbbbb: its network or cgroup setup is not all undone \(run minc --gc to try again\)/);
    expect(existsSync(join(d, 'undo'))).toBe(true);
  });
});

describe('listTempdirs', () => {
  it("lists only this user's own minc dirs that no one else may write: a planted one is never --gc's to run", () => {
    const base = mkdtempSync('/tmp/minc-unit-list-');
    try {
      for (const n of ['minc1-aaaaaa', 'minc2-bbbbbb', 'minc3-cccccc', 'other']) mkdirSync(join(base, n), { mode: 0o700 });
      chmodSync(join(base, 'minc2-bbbbbb'), 0o777);
      symlinkSync(join(base, 'minc1-aaaaaa'), join(base, 'minc4-dddddd'));
      if (process.getuid?.() === 0) chownSync(join(base, 'minc3-cccccc'), 65534, 65534);
      const want = ['minc1-aaaaaa', ...(process.getuid?.() === 0 ? [] : ['minc3-cccccc'])].map((n) => join(base, n));
      expect(listTempdirs(base).sort()).toEqual(want);
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
  });
});

describe('tempBase', () => {
  const TMPFS = 0x01021994;
  const OVERLAY = 0x794c7630;
  const EXT4 = 0xef53;
  const fs = (types: Record<string, number>) => (p: string): number | null => types[p] ?? null;
  it('takes /run or $XDG_RUNTIME_DIR where it is a tmpfs', () => {
    expect(tempBase({}, fs({ '/run': TMPFS, '/dev/shm': TMPFS }))).toBe('/run');
    expect(tempBase({ XDG_RUNTIME_DIR: '/run/user/0' }, fs({ '/run/user/0': TMPFS, '/dev/shm': TMPFS }))).toBe('/run/user/0');
  });
  it('goes to /dev/shm where /run is on a disk or an overlay, and where $XDG_RUNTIME_DIR is an overlay', () => {
    expect(tempBase({}, fs({ '/run': EXT4, '/dev/shm': TMPFS }))).toBe('/dev/shm');
    expect(tempBase({}, fs({ '/run': OVERLAY, '/dev/shm': TMPFS }))).toBe('/dev/shm');
    expect(tempBase({ XDG_RUNTIME_DIR: '/x' }, fs({ '/x': OVERLAY, '/dev/shm': TMPFS }))).toBe('/dev/shm');
  });
  it("keeps a user's $XDG_RUNTIME_DIR on a disk, and /run where /dev/shm is no tmpfs", () => {
    expect(tempBase({ XDG_RUNTIME_DIR: '/x' }, fs({ '/x': EXT4, '/dev/shm': TMPFS }))).toBe('/x');
    expect(tempBase({}, fs({ '/run': EXT4, '/dev/shm': EXT4 }))).toBe('/run');
  });
});
