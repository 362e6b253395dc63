import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, realpathSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MASKED, PROC_READONLY, TOOLS } from '../../../src/plan/paths.js';
import { gatherFacts, loaderFacts, which } from '../../../src/run/facts.js';

let base: string;
beforeAll(() => {
  base = realpathSync(mkdtempSync(join(tmpdir(), 'minc-facts-')));
});
afterAll(() => rmSync(base, { recursive: true, force: true }));

function file(path: string, mode = 0o755): string {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, '#!/bin/sh\nexit 0\n');
  chmodSync(path, mode);
  return path;
}

/** /usr/lib and /lib of this host, as loaderFacts adds them after the loader's and libc's dirs. */
const systemDirs = (): string[] => ['/usr/lib', '/lib'].filter((d) => existsSync(d)).map((d) => realpathSync(d));

const mapLine = (addr: string, perms: string, path = ''): string => `${addr} ${perms} 00000000 fe:00 339380${path ? `                     ${path}` : ''}`;

describe('loaderFacts', () => {
  it('finds the loader and libc in a sample /proc/self/maps, resolving symlinks', () => {
    const lib = join(base, 'glibc', 'usr lib', 'x86_64-linux-gnu');
    const ld = file(join(lib, 'ld-linux-x86-64.so.2'));
    const libc = file(join(lib, 'libc.so.6'));
    const lib64 = join(base, 'glibc', 'lib64');
    mkdirSync(lib64, { recursive: true });
    symlinkSync(ld, join(lib64, 'ld-linux-x86-64.so.2'));
    const maps = [
      mapLine('561978f4d000-561978f4f000', 'r--p', '/usr/bin/node'),
      mapLine('56199f94c000-56199f96d000', 'rw-p', '[heap]'),
      mapLine('7f59c9db5000-7f59c9dd7000', 'rw-p'),
      mapLine('7f59c9e00000-7f59c9e10000', 'r--p', join(base, 'glibc', 'libcap.so.2')),
      mapLine('7f59c9e3a000-7f59c9e60000', 'r--p', libc),
      mapLine('7f59c9e60000-7f59c9fb6000', 'r-xp', libc),
      mapLine('7f59ca027000-7f59ca02b000', 'r--p', '[vvar]'),
      mapLine('7f59ca02d000-7f59ca02f000', 'r--p', join(lib64, 'ld-linux-x86-64.so.2')),
      mapLine('7ffd5c5f2000-7ffd5c613000', 'rw-p', '[stack]'),
      '',
    ].join('\n');
    const f = loaderFacts(maps);
    expect(f.ldso).toBe(ld);
    expect(f.libpath.split(':')).toEqual([...new Set([lib, ...systemDirs()])]);
  });

  it('takes an old-style libc-2.31.so and a loader in another directory', () => {
    const libc = file(join(base, 'old', 'lib', 'libc-2.31.so'));
    const ld = file(join(base, 'old', 'lib64', 'ld-linux-x86-64.so.2'));
    const f = loaderFacts([mapLine('7f00-7f01', 'r-xp', libc), mapLine('7f02-7f03', 'r-xp', ld)].join('\n'));
    expect(f.ldso).toBe(ld);
    expect(f.libpath.split(':')).toEqual([...new Set([dirname(libc), dirname(ld), ...systemDirs()])]);
  });

  it("takes musl's loader (its libc is the loader itself)", () => {
    const ld = file(join(base, 'musl', 'lib', 'ld-musl-x86_64.so.1'));
    const f = loaderFacts(mapLine('7f00-7f01', 'r-xp', ld));
    expect(f.ldso).toBe(ld);
    expect(f.libpath.split(':')[0]).toBe(dirname(ld));
  });

  it('gives no loader for a static binary, and the system library dirs', () => {
    const f = loaderFacts([mapLine('400000-401000', 'r-xp', '/usr/bin/static'), mapLine('7f00-7f01', 'rw-p', '[heap]')].join('\n'));
    expect(f.ldso).toBe('');
    expect(f.libpath.split(':')).toEqual([...new Set(systemDirs())]);
  });

  it("of this process: the host's loader runs a host tool with that library path", () => {
    const f = loaderFacts();
    expect(f.ldso).toMatch(/^\//);
    expect(statSync(f.ldso).isFile()).toBe(true);
    const t = which('true');
    expect(t).toBeDefined();
    const out = execFileSync(f.ldso, ['--library-path', f.libpath, which('sh')!, '-c', 'echo ran'], { encoding: 'utf8' });
    expect(out).toBe('ran\n');
  });
});

describe('which', () => {
  const SYSTEM = ['/usr/sbin', '/usr/bin', '/sbin', '/bin', '/usr/local/sbin', '/usr/local/bin'];
  const candidates = (name: string): string[] =>
    SYSTEM.map((d) => join(d, name)).filter((p) => existsSync(p) && statSync(p).isFile() && (statSync(p).mode & 0o111) !== 0);

  it('finds a system tool in the system directories, symlinks resolved', () => {
    for (const name of ['sh', 'mount', 'pivot_root']) {
      const found = which(name);
      expect(found, name).toBeDefined();
      expect(found, name).toBe(realpathSync(candidates(name)[0]!));
    }
  });

  it("never takes a tool from the caller's PATH (minc runs them as root)", () => {
    const fake = file(join(base, 'userbin', 'mount'));
    file(join(base, 'userbin', 'minc-only-in-path'));
    const saved = process.env.PATH;
    process.env.PATH = `${join(base, 'userbin')}:${saved ?? ''}`;
    try {
      expect(which('mount')).not.toBe(fake);
      expect(which('mount')).toBe(realpathSync(candidates('mount')[0]!));
      expect(which('minc-only-in-path')).toBeUndefined();
    } finally {
      process.env.PATH = saved;
    }
  });

  it('gives undefined for a tool nowhere', () => {
    expect(which('minc-no-such-tool-xyz')).toBeUndefined();
  });
});

describe('gatherFacts', () => {
  it("describes this host: tools, loader, the kernel's /proc paths", () => {
    const f = gatherFacts();
    for (const t of ['mount', 'sh', 'unshare'] as const) expect(f.tools[t], t).toBe(which(t));
    for (const [t, p] of Object.entries(f.tools)) {
      expect((TOOLS as readonly string[]).includes(t)).toBe(true);
      expect(p.startsWith('/'), t).toBe(true);
    }
    expect(f.ldso).toBe(loaderFacts().ldso);
    for (const p of [...PROC_READONLY, ...MASKED]) {
      if (!existsSync(p)) expect(f.existing.has(p), p).toBe(false);
      else expect(f.existing.get(p), p).toBe(statSync(p).isDirectory() ? 'dir' : 'file');
    }
    expect(f.existing.get('/proc/sys')).toBe('dir');
    expect(f.hostname).toBe(execFileSync('hostname', { encoding: 'utf8' }).trim());
  });
});
