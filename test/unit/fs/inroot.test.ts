/** src/fs: files a root names, resolved inside it across overlay layers; no-follow reads and writes. */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { readInRoot, resolveInRoot } from '../../../src/fs/inroot.js';
import { readNoFollow, writeNoFollow } from '../../../src/fs/nofollow.js';
import { MincError } from '../../../src/errors.js';

const scratch = mkdtempSync('/tmp/minc-unit-fs-');
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
let n = 0;
function tree(files: Record<string, string>, links: Record<string, string> = {}): string {
  const r = join(scratch, `t${++n}`);
  mkdirSync(r);
  for (const [p, c] of Object.entries(files)) {
    mkdirSync(join(r, p, '..'), { recursive: true });
    writeFileSync(join(r, p), c);
  }
  for (const [at, to] of Object.entries(links)) {
    mkdirSync(join(r, at, '..'), { recursive: true });
    symlinkSync(to, join(r, at));
  }
  return r;
}
const outside = tree({ 'etc/passwd': 'host:x:1:1::/:/bin/sh\n' });

describe('resolveInRoot', () => {
  it('follows links inside the root: absolute ones start again at it, .. stops at it', () => {
    const r = tree({ 'real/passwd': 'in\n' }, { 'etc/passwd': '/real/passwd', 'a/up': '../../../../../real', 'abs': outside });
    expect(String(resolveInRoot([r], '/etc/passwd'))).toBe(`${r}/real/passwd`);
    expect(String(resolveInRoot([r], '/a/up/passwd'))).toBe(`${r}/real/passwd`);
    // a link to a host path is that path inside the root: absent here
    expect(resolveInRoot([r], '/abs/etc/passwd')).toBeNull();
    expect(resolveInRoot([r], '/../../etc/../real/./passwd')?.toString()).toBe(`${r}/real/passwd`);
  });

  it('looks through the layers top first; a whiteout hides what is below', () => {
    const upper = tree({ 'etc/group': 'upper\n' });
    const lower = tree({ 'etc/group': 'lower\n', 'etc/passwd': 'lower\n', 'etc/shadow': 'x\n' }, { 'etc/link': 'group' });
    execFileSync('mknod', [join(upper, 'etc/shadow'), 'c', '0', '0']);
    expect(String(resolveInRoot([upper, lower], '/etc/group'))).toBe(`${upper}/etc/group`);
    expect(String(resolveInRoot([upper, lower], '/etc/passwd'))).toBe(`${lower}/etc/passwd`);
    expect(String(resolveInRoot([upper, lower], '/etc/link'))).toBe(`${upper}/etc/group`);
    expect(resolveInRoot([upper, lower], '/etc/shadow')).toBeNull();
  });

  it('a loop is an error of the project class; a file on the way is absent', () => {
    const r = tree({ f: '' }, { a: 'b', b: '/a' });
    expect(() => resolveInRoot([r], '/a')).toThrow(MincError);
    expect(() => resolveInRoot([r], '/a')).toThrow(/too many levels of symbolic links/);
    expect(resolveInRoot([r], '/f/x')).toBeNull();
  });
});

describe('readInRoot', () => {
  it('reads a regular file, bounded', () => {
    const r = tree({ 'etc/passwd': 'root:x:0:0::/:/bin/sh\n' });
    expect(readInRoot([r], '/etc/passwd')?.toString()).toBe('root:x:0:0::/:/bin/sh\n');
    expect(readInRoot([r], '/etc/none')).toBeNull();
    expect(() => readInRoot([r], '/etc/passwd', 5)).toThrow(/larger than 5 bytes/);
  });

  it('refuses a device, a fifo or a directory instead of reading it', () => {
    const r = tree({});
    mkdirSync(join(r, 'etc'));
    execFileSync('mknod', [join(r, 'etc/zero'), 'c', '1', '5']);
    execFileSync('mkfifo', [join(r, 'etc/fifo')]);
    for (const p of ['/etc/zero', '/etc/fifo', '/etc']) expect(() => readInRoot([r], p), p).toThrow(/not a regular file/);
  });
});

describe('readNoFollow / writeNoFollow', () => {
  it('never read or write through a symlink', () => {
    const d = tree({ victim: 'host\n', plain: 'p\n' }, { link: 'victim' });
    expect(() => readNoFollow(join(d, 'link'), 100)).toThrow(/symbolic link/);
    expect(() => writeNoFollow(join(d, 'link'), 'x')).toThrow(/symbolic link/);
    expect(readFileSync(join(d, 'victim'), 'utf8')).toBe('host\n');
    writeNoFollow(join(d, 'plain'), 'new\n');
    expect(readNoFollow(join(d, 'plain'), 100)?.toString()).toBe('new\n');
    expect(readNoFollow(join(d, 'absent'), 100)).toBeNull();
  });
});
