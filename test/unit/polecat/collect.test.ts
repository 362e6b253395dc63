import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveEntries, withParents } from '../../../src/polecat/collect.js';

let root: string;
let outside: string;
const rel = (b: Buffer[]): string[] => b.map(String);

describe('resolveEntries: paths resolved inside the root', () => {
  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'polecat-unit-root-'));
    outside = mkdtempSync(join(tmpdir(), 'polecat-unit-outside-'));
    writeFileSync(join(outside, 'secret'), 'host\n');
    mkdirSync(join(root, 'usr/lib'), { recursive: true });
    mkdirSync(join(root, 'etc'));
    writeFileSync(join(root, 'usr/lib/libc.so.6'), 'x');
    symlinkSync('usr/lib', join(root, 'lib'));
    symlinkSync('/lib/libc.so.6', join(root, 'etc/abs'));
    // hostile: links that would leave the root if the kernel followed them
    symlinkSync(`../../../../..${outside}/secret`, join(root, 'etc/up'));
    symlinkSync(join(outside, 'secret'), join(root, 'etc/hostabs'));
    symlinkSync('loop', join(root, 'etc/loop'));
  });
  afterAll(() => {
    rmSync(root, { recursive: true, force: true });
    rmSync(outside, { recursive: true, force: true });
  });

  it('keeps each link on the way and the file it names', () => {
    const r = resolveEntries(root, Buffer.from('/lib/libc.so.6'));
    expect(rel(r!.entries)).toEqual(['lib', 'usr/lib/libc.so.6']);
    const a = resolveEntries(root, Buffer.from('/etc/abs'));
    expect(rel(a!.entries)).toEqual(['etc/abs', 'lib', 'usr/lib/libc.so.6']);
  });

  it('never leaves the root: .. stops at it, an absolute target starts again from it', () => {
    expect(resolveEntries(root, Buffer.from('/etc/up'))).toBeNull(); // <root>/<outside>/secret does not exist
    expect(resolveEntries(root, Buffer.from('/etc/hostabs'))).toBeNull();
    expect(resolveEntries(root, Buffer.from('/../../etc/abs'))?.target.toString()).toBe('usr/lib/libc.so.6');
  });

  it('gives up on a link loop and on what is not there', () => {
    expect(resolveEntries(root, Buffer.from('/etc/loop'))).toBeNull();
    expect(resolveEntries(root, Buffer.from('/usr/lib/libc.so.6/x'))).toBeNull();
    expect(resolveEntries(root, Buffer.from('/nope'))).toBeNull();
  });

  it('withParents lists every directory above, parents first, once', () => {
    expect(rel(withParents([Buffer.from('usr/lib/a'), Buffer.from('usr/lib/b'), Buffer.from('lib'), Buffer.from('usr/lib-x')])))
      .toEqual(['lib', 'usr', 'usr/lib', 'usr/lib-x', 'usr/lib/a', 'usr/lib/b']); // bytes: '-' sorts before '/', parents still come first
  });
});
