/**
 * Every script in examples/ runs, twice, as .ci/run runs them: given a dir
 * the test made (the scripts touch nothing of the host outside it), stdin
 * closed, and leaving no temp dir or mount behind.
 */
import { execa } from 'execa';
import { lstatSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { expectNothingLeft } from '../helpers/e2e.js';
import { ROOT } from '../helpers/minc.js';

const scratch = mkdtempSync('/tmp/minc-e2e-examples-');
afterAll(() => {
  rmSync(scratch, { recursive: true, force: true });
  expectNothingLeft();
});

const run = (script: string, args: string[]) =>
  execa('sh', [join(ROOT, 'examples', script), ...args], { reject: false, stdin: 'ignore', timeout: 60_000 });

describe('examples/', () => {
  it('busybox-rootfs.sh DIR makes a rootfs whose busybox is the binary, and runs in it again', async () => {
    const dir = join(scratch, 'bb');
    for (let i = 0; i < 2; i++) {
      const r = await run('busybox-rootfs.sh', [dir, 'sh', '-c', 'echo hi from $(hostname)']);
      expect(r.stderr).toBe('');
      expect(r.stdout).toBe('hi from busybox');
      expect(r.exitCode).toBe(0);
      expect(lstatSync(join(dir, 'bin/busybox')).isFile()).toBe(true);
    }
    // no command: its shell reads (closed) stdin and ends
    const sh = await run('busybox-rootfs.sh', [dir]);
    expect(sh.exitCode).toBe(0);
  });

  it.each(readdirSync(join(ROOT, 'examples')).filter((f) => f.endsWith('.sh')))('%s runs to the end', async (script) => {
    const dir = mkdtempSync(join(scratch, 'each-'));
    const r = await run(script, [join(dir, 'd')]);
    expect(r.stderr.split('\n').filter((l) => /^minc:/.test(l) && !/minc -t /.test(l))).toEqual([]);
    expect(r.exitCode).toBe(0);
  });
});
