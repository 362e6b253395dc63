import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { removeTempdir } from '../../../src/run/tempdir.js';

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
