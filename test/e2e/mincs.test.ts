/**
 * MINCS's own test cases (test.d/00_basic and test.d/01_rootfs), ported: the
 * same commands and checks, with a busybox rootfs instead of debootstrap, run
 * with no tty (stdin ignored, and stdin a pipe).
 */
import { existsSync, mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectNothingLeft, removeKept, reuseDir, runMinc, unique } from '../helpers/e2e.js';
import { ROOT } from '../helpers/minc.js';
import { makeBusyboxRootfs } from '../helpers/rootfs.js';

const STDIN_MODES = [
  ['stdin ignored', { stdin: 'ignore' as const }],
  ['stdin a pipe', { stdin: 'pipe' as const, input: 'unread input\n' }],
] as const;

let rootfs: { dir: string; remove: () => void };

beforeAll(() => {
  rootfs = makeBusyboxRootfs();
});

afterAll(() => {
  rootfs.remove();
  expectNothingLeft();
});

describe.each(STDIN_MODES)('MINCS test.d/00_basic (%s)', (_mode, io) => {
  it('bind: --bind DIR:/bindtest shows the host file inside', async () => {
    const dir = mkdtempSync('/tmp/bindtest.');
    try {
      const key = unique();
      writeFileSync(join(dir, 'hello'), `${key}\n`);
      const r = await runMinc(['--bind', `${dir}:/bindtest`, 'cat', '/bindtest/hello'], io);
      expect(r.stderr).toBe('');
      expect(r.exitCode).toBe(0);
      expect(r.stdout).toBe(key);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('help: --help and -h print a help naming the help option', async () => {
    for (const opt of ['--help', '-h']) {
      const r = await runMinc([opt], io);
      expect(r.exitCode).toBe(0);
      expect(r.stdout).toMatch(/\bhelp\b/);
      expect(r.stdout).toMatch(/--help/);
    }
  });

  it('keep: --keep keeps the temp dir (reuse hint on stderr); -t DIR reuses its storage', async () => {
    const r = await runMinc(['--keep', 'ps'], io);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/^\s*1\s/m);
    const dir = reuseDir(r.stderr);
    try {
      expect(existsSync(join(dir, 'storage'))).toBe(true);
      writeFileSync(join(dir, 'storage', 'hello'), 'HELLO\n');
      const r2 = await runMinc(['-t', dir, 'cat', '/hello'], io);
      expect(r2.exitCode).toBe(0);
      expect(r2.stdout).toBe('HELLO');
    } finally {
      removeKept(dir);
    }
  });

  it('name: --name sets the hostname the command sees', async () => {
    const name = `hoge-${unique()}`;
    const r = await runMinc(['--name', name, 'hostname'], io);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe(name);
  });

  it('noopt: `minc ps` shows a process with PID 1', async () => {
    const r = await runMinc(['ps'], io);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/^[ \t]*1\s/m);
    // a fresh PID namespace: only the container's few processes show
    expect(r.stdout.trim().split('\n').length).toBeLessThanOrEqual(5);
  });

  it('pivot: --pivot is accepted and the command runs', async () => {
    const r = await runMinc(['--pivot', 'echo', 'HELLO'], io);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe('HELLO');
  });

  it('user: --user 1000 -> id -u is 1000; --user 1000:1234 -> id -g is 1234', async () => {
    const u = await runMinc(['--user', '1000', 'id', '-u'], io);
    expect(u.exitCode).toBe(0);
    expect(u.stdout).toBe('1000');
    const g = await runMinc(['--user', '1000:1234', 'id', '-g'], io);
    expect(g.exitCode).toBe(0);
    expect(g.stdout).toBe('1234');
  });
});

describe.each(STDIN_MODES)('MINCS test.d/01_rootfs with a busybox rootfs (%s)', (_mode, io) => {
  it('rootfs: a file of the rootfs is what -r ROOTFS shows at /', async () => {
    const keyfile = `testfile.${unique()}`;
    writeFileSync(join(rootfs.dir, keyfile), `${keyfile}\n`);
    try {
      const r = await runMinc(['-r', rootfs.dir, 'cat', `/${keyfile}`], io);
      expect(r.exitCode).toBe(0);
      expect(r.stdout).toBe(keyfile);
      // and it is not the host's root
      expect(existsSync(`/${keyfile}`)).toBe(false);
    } finally {
      rmSync(join(rootfs.dir, keyfile), { force: true });
    }
  });

  it('bind_rootfs: -r ROOTFS --bind ./:/KEYDIR shows the checkout at /KEYDIR', async () => {
    const key = mkdtempSync(join(rootfs.dir, 'testdir'));
    const keydir = basename(key);
    try {
      const r = await runMinc(['-r', rootfs.dir, '--bind', `./:/${keydir}`, 'ls', `/${keydir}/bin/minc`], { ...io, cwd: ROOT });
      expect(r.stderr).toBe('');
      expect(r.exitCode).toBe(0);
      expect(r.stdout).toBe(`/${keydir}/bin/minc`);
      // the mount point stayed empty in the rootfs itself
      mkdirSync(key, { recursive: true });
      expect(existsSync(join(key, 'bin'))).toBe(false);
    } finally {
      rmSync(key, { recursive: true, force: true });
    }
  });
});
