/**
 * Reading an upper dir a rootless run made (no root needed; as root the
 * upper is given to another uid, as a user's run would own it): kernel
 * overlayfs with userxattr (0/0 whiteouts, user.overlay.opaque) and
 * fuse-overlayfs in a user namespace (0/0 whiteouts, user.fuseoverlayfs.opaque
 * with a .wh..wh..opq file and a .wh..opq whiteout in the opaque dir), both
 * made here as code with the shapes those overlays were seen to write.
 */
import { execFileSync } from 'node:child_process';
import { chownSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { scan } from '../../../src/review/scan.js';
import type { Sandbox } from '../../../src/review/sandbox.js';

const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

const sh = (script: string, cwd: string): void => void execFileSync('sh', ['-ec', script], { cwd });

/** A lower (/f, /g, /d/x, /d2/y) and an empty upper; the upper a user's (uid 4242 when the test runs as root). */
function fixture(): { lower: string; upper: string; done: () => Sandbox } {
  const base = mkdtempSync('/tmp/minc-unit-upper-');
  dirs.push(base);
  const lower = join(base, 'lower');
  const upper = join(base, 'upper');
  sh('mkdir -p lower/d lower/d2 upper; echo a > lower/f; echo g > lower/g; echo x > lower/d/x; echo y > lower/d2/y', base);
  return {
    lower,
    upper,
    done: () => {
      if (process.getuid?.() === 0) execFileSync('chown', ['-R', '4242:4242', upper, lower]);
      return { dir: base, settings: { rootdir: lower, direct: false, keep: true, mincPid: 1, mincStart: 1 }, rootdir: lower, mounts: [{ point: Buffer.from('/'), upper, lowers: [Buffer.from(lower)] }], made: new Set(), hide: [], started: 0, rootless: true };
    },
  };
}

const lines = (sb: Sandbox): string[] => scan(sb).map((c) => `${c.status} ${c.path.toString()}${c.opaque ? ' opaque' : ''}${c.what.length ? ` ${c.what.join(',')}` : ''}`);

/** What both forms must read as: /f and /d2 deleted, /d replaced (opaque) with /d/z, /e new, /g changed. */
const EXPECTED = ['D /d/x', 'C /d opaque opaque', 'A /d/z', 'D /d2', 'A /e', 'D /f', 'C /g content'].sort();
const sorted = (l: string[]): string[] => [...l].sort();

describe('an upper of a rootless run', () => {
  it('kernel overlayfs with userxattr: user.overlay.opaque marks, its other user.overlay.* xattrs are no changes', () => {
    const { upper, done } = fixture();
    sh(`mknod f c 0 0; mknod d2 c 0 0; mkdir d e; echo z > d/z; echo h > g
      setfattr -n user.overlay.opaque -v y d; setfattr -n user.overlay.origin -v 0x00 g
      setfattr -n user.overlay.impure -v y .; setfattr -n user.overlay.uuid -v 0x1234 .`, upper);
    expect(sorted(lines(done()))).toEqual(EXPECTED);
  });

  it('fuse-overlayfs in a user namespace: user.fuseoverlayfs.opaque, and its two marker entries are no additions', () => {
    const { upper, done } = fixture();
    sh(`mknod f c 0 0; mknod d2 c 0 0; mkdir d e; echo z > d/z; echo h > g
      : > d/.wh..wh..opq; chmod 700 d/.wh..wh..opq; mknod d/.wh..opq c 0 0
      : > e/.wh..wh..opq; mknod e/.wh..opq c 0 0
      setfattr -n user.fuseoverlayfs.opaque -v y d; setfattr -n user.fuseoverlayfs.opaque -v y e; setfattr -n user.fuseoverlayfs.origin -v g g`, upper);
    const got = lines(done());
    // /e is new: opaque or not, an addition
    expect(sorted(got.map((l) => l.replace(/^A \/e opaque$/, 'A /e')))).toEqual(EXPECTED);
  });

  it('a root run\'s upper: user.overlay.opaque and fuse marks set by the container are plain xattrs, not opaque dirs', () => {
    if (process.getuid?.() !== 0) return; // a user's upper is never root's: the case needs root to make
    const base = mkdtempSync('/tmp/minc-unit-upper-');
    dirs.push(base);
    sh('mkdir -p lower/d upper/d; echo x > lower/d/x; echo z > upper/d/z; : > upper/d/.wh..wh..opq; setfattr -n user.overlay.opaque -v y upper/d; setfattr -n user.fuseoverlayfs.opaque -v y upper/d', base);
    chownSync(join(base, 'upper'), 0, 0);
    const sb: Sandbox = { dir: base, settings: { rootdir: join(base, 'lower'), direct: false, keep: true, mincPid: 1, mincStart: 1 }, rootdir: join(base, 'lower'), mounts: [{ point: Buffer.from('/'), upper: join(base, 'upper'), lowers: [Buffer.from(join(base, 'lower'))] }], made: new Set(), hide: [], started: 0, rootless: true };
    const got = lines(sb);
    expect(got).not.toContain('D /d/x');
    expect(got).toContain('A /d/z');
    expect(got).toContain('A /d/.wh..wh..opq');
  });
});
