import { spawn } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { processStart, readSettings, writeSettings, type Settings } from '../../../src/run/settings.js';
import { which } from '../../../src/run/facts.js';

let base: string;
beforeAll(() => {
  base = mkdtempSync(join(tmpdir(), 'minc-settings-'));
});
afterAll(() => rmSync(base, { recursive: true, force: true }));
let n = 0;
const fresh = (): string => mkdtempSync(join(base, `s${n++}-`));

describe('writeSettings / readSettings', () => {
  it('round-trips every field', () => {
    const d = fresh();
    const s: Settings = { rootdir: "/srv/a b'c", direct: true, name: 'box', keep: true, mincPid: 1234, mincStart: 987654 };
    writeSettings(d, s);
    expect(readSettings(d)).toEqual(s);
  });

  it('round-trips without a name', () => {
    const d = fresh();
    const s: Settings = { rootdir: '/', direct: false, keep: false, mincPid: 1, mincStart: 0 };
    writeSettings(d, s);
    const back = readSettings(d);
    expect(back).toEqual(s);
    expect(back && 'name' in back && back.name !== undefined).toBe(false);
  });

  it('writes TEMPDIR/settings as one JSON document ending in a newline', () => {
    const d = fresh();
    writeSettings(d, { rootdir: '/', direct: false, keep: true, mincPid: 2, mincStart: 3 });
    const text = readFileSync(join(d, 'settings'), 'utf8');
    expect(text.endsWith('\n')).toBe(true);
    expect(JSON.parse(text)).toMatchObject({ rootdir: '/', mincPid: 2 });
  });

  it('replaces what was there', () => {
    const d = fresh();
    writeSettings(d, { rootdir: '/a', direct: false, keep: true, mincPid: 2, mincStart: 3 });
    writeSettings(d, { rootdir: '/b', direct: true, keep: true, mincPid: 4, mincStart: 5 });
    expect(readSettings(d)).toMatchObject({ rootdir: '/b', direct: true, mincPid: 4 });
  });

  it('gives null for a directory without settings, a missing directory, or a broken file', () => {
    expect(readSettings(fresh())).toBeNull();
    expect(readSettings(join(base, 'missing'))).toBeNull();
    const d = fresh();
    writeFileSync(join(d, 'settings'), '{"rootdir": "/", ');
    expect(readSettings(d)).toBeNull();
  });
});

describe('processStart', () => {
  const ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
  const uptimeTicks = (): number => Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]) * ticks;

  it('gives the start time of this process, in clock ticks since boot', () => {
    const start = processStart(process.pid);
    expect(start).not.toBeNull();
    expect(Number.isInteger(start)).toBe(true);
    expect(start!).toBeLessThanOrEqual(uptimeTicks());
    expect(start!).toBeGreaterThan(0);
    expect(processStart(process.pid)).toBe(start);
  });

  it('gives a new process a start time of about now, even with spaces and parentheses in its name', async () => {
    // the command name (field 2) is what a process makes it: `sleep` started through
    // a link named like this shows it in /proc/PID/stat as "(a) b (c d)"
    const link = join(base, 'a) b (c d');
    symlinkSync(which('sleep')!, link);
    const before = uptimeTicks();
    const child = spawn(link, ['5'], { stdio: 'ignore' });
    try {
      await new Promise((resolve) => child.once('spawn', resolve));
      const stat = readFileSync(`/proc/${child.pid}/stat`, 'utf8');
      expect(stat).toContain('(a) b (c d)');
      const start = processStart(child.pid!);
      expect(start).not.toBeNull();
      expect(Math.abs(start! - before)).toBeLessThanOrEqual(2 * ticks);
      expect(start!).toBeGreaterThanOrEqual(processStart(process.pid)!);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('gives null for a process that is gone', async () => {
    const child = spawn('true', { stdio: 'ignore' });
    await new Promise((resolve) => child.once('exit', resolve));
    // reaped: the pid is free (reuse within this test is not likely enough to matter)
    expect(processStart(child.pid!)).toBeNull();
    expect(processStart(2 ** 22 + 1)).toBeNull();
  });
});
