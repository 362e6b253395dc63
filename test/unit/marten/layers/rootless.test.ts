/** A user's unpack and pack: tar's complaints read, owners mapped (no root needed). */
import { describe, expect, it } from 'vitest';
import { inside, subRange } from '../../../../src/marten/layers/idmap.js';
import { skippedDevices, tarExtract } from '../../../../src/marten/layers/unpack.js';

describe('skippedDevices', () => {
  it('lists the nodes when all tar said is that it could not make them', () => {
    const err = 'tar: ./dev/loop0: Cannot mknod: Operation not permitted\ntar: ./dev/null: Cannot mknod: Operation not permitted\ntar: Exiting with failure status due to previous errors\n';
    expect(skippedDevices(err)).toEqual(['./dev/loop0', './dev/null']);
  });
  it('is null when tar said anything else, or nothing of nodes', () => {
    expect(skippedDevices('tar: ./dev/null: Cannot mknod: Operation not permitted\ntar: ./a: Cannot open: No space left on device\n')).toBeNull();
    expect(skippedDevices('tar: Unexpected EOF in archive\n')).toBeNull();
    expect(skippedDevices('')).toBeNull();
  });
});

describe('tarExtract', () => {
  it('keeps owners for root only, and never takes overlayfs xattrs from a layer', () => {
    expect(tarExtract(true)).toContain('--same-owner');
    expect(tarExtract(false)).toContain('--no-same-owner');
    for (const root of [true, false]) expect(tarExtract(root)).toEqual(expect.arrayContaining(['--xattrs-exclude=user.overlay.*', '--xattrs-exclude=user.fuseoverlayfs.*']));
  });
});

describe('owner map of a user\'s layer', () => {
  it('maps the user to 0 and its first subordinate range to 1..., other ids as they are', () => {
    const r = subRange('other:1:5\nme:100000:65536\n', 'me', 1000);
    expect(r).toEqual({ start: 100000, count: 65536 });
    expect(subRange('1000:7:8\n', 'me', 1000)).toEqual({ start: 7, count: 8 });
    const f = inside(1000, r);
    expect([f(1000), f(100000), f(100032), f(33), f(0)]).toEqual([0, 1, 33, 33, 0]);
    expect(inside(1000, null)(1000)).toBe(0);
  });
});
