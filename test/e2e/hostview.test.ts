/**
 * The view of the live host (issue 9): every host mount below / is overlaid
 * at its own path, /run is fresh, --hide shows paths empty, and what minc
 * sets up for itself is no change of the user's.  The host mounts here are
 * tmpfs mounts this file makes under /var/tmp; nothing is written elsewhere.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectNothingLeft, privateBase, removeKept, reuseDir, runMinc } from '../helpers/e2e.js';
import { MINC, ROOT } from '../helpers/minc.js';

let top: string;
let deep: string;
let sockDir: string;
let server: Server;

/** Every entry below dir, as paths relative to it. */
const tree = (dir: string): string[] => (readdirSync(dir, { recursive: true }) as string[]).sort();

beforeAll(async () => {
  // two host mounts, nested: TOP (tmpfs) and TOP/sub/deep (another tmpfs)
  top = mkdtempSync('/var/tmp/hostview-e2e-');
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'minc-e2e-top', top]);
  writeFileSync(join(top, 'f'), 'top\n');
  deep = join(top, 'sub', 'deep');
  mkdirSync(deep, { recursive: true });
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'minc-e2e-deep', deep]);
  writeFileSync(join(deep, 'g'), 'deep\n');
  mkdirSync(join(top, 'secret'));
  writeFileSync(join(top, 'secret', 'key'), 'KEY\n');
  writeFileSync(join(top, 'token'), 'TOKEN\n');
  // a host socket under /run: a way out of any sandbox
  sockDir = mkdtempSync('/run/minc-e2e-sock-');
  server = createServer((c) => c.end('from the host\n'));
  await new Promise<void>((r) => server.listen(join(sockDir, 's.sock'), r));
});

afterAll(async () => {
  await new Promise<void>((r) => server.close(() => r()));
  rmSync(sockDir, { recursive: true, force: true });
  execFileSync('umount', [deep]);
  execFileSync('umount', [top]);
  rmSync(top, { recursive: true, force: true });
  expectNothingLeft();
});

describe('every host mount in the view', () => {
  it('shows files of mounts nested two deep; writes under them land in the sandbox, not on the host', async () => {
    const before = tree(top);
    const r = await runMinc(['sh', '-c', `cat ${top}/f ${deep}/g; echo new > ${deep}/new; echo more >> ${top}/f; rm ${deep}/g; cat ${deep}/new ${top}/f; ls ${deep}`]);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('top\ndeep\nnew\ntop\nmore\nnew');
    expect(r.exitCode).toBe(0);
    expect(tree(top)).toEqual(before);
    expect(readFileSync(join(top, 'f'), 'utf8')).toBe('top\n');
    expect(readFileSync(join(deep, 'g'), 'utf8')).toBe('deep\n');
  });

  it('-k keeps an upper per mount (mounts/NAME/upper, the path percent-encoded), storage/ stays the root\'s; the reuse line ends with the dir', async () => {
    const base = privateBase();
    try {
      const r = await runMinc(['-k', 'sh', '-c', `echo a > ${top}/added; echo b > ${deep}/added2; echo c > /var/tmp/minc-e2e-rootfile-${process.pid}`], { env: base.env });
      expect(r.exitCode).toBe(0);
      const line = r.stderr.split('\n').find((l) => l.includes('reuse'))!;
      const dir = line.trim().split(/\s+/).at(-1)!;
      expect(dir).toBe(reuseDir(r.stderr));
      expect(existsSync(join(dir, 'settings'))).toBe(true);
      const enc = (p: string): string => p.slice(1).replace(/\//g, '%2F');
      expect(readFileSync(join(dir, 'mounts', enc(top), 'upper', 'added'), 'utf8')).toBe('a\n');
      expect(readFileSync(join(dir, 'mounts', enc(deep), 'upper', 'added2'), 'utf8')).toBe('b\n');
      expect(readFileSync(join(dir, 'storage', 'var', 'tmp', `minc-e2e-rootfile-${process.pid}`), 'utf8')).toBe('c\n');
      expect(existsSync(`/var/tmp/minc-e2e-rootfile-${process.pid}`)).toBe(false);
      // reused: every upper comes back
      const again = await runMinc(['-t', dir, 'cat', `${top}/added`, `${deep}/added2`], { env: base.env });
      expect(again.stdout).toBe('a\nb');
      removeKept(dir);
    } finally {
      base.remove();
    }
  });

  it('a mount overlayfs refuses as a lower dir (an overlay two deep already) is bound read-only, and --debug says so', async () => {
    const d = mkdtempSync('/var/tmp/overlay2-e2e-');
    for (const x of ['l', 'u1', 'w1', 'm1', 'u2', 'w2', 'm2']) mkdirSync(join(d, x));
    writeFileSync(join(d, 'l', 'f'), 'two deep\n');
    execFileSync('mount', ['-t', 'overlay', '-o', `lowerdir=${d}/l,upperdir=${d}/u1,workdir=${d}/w1`, 'minc-e2e-o1', `${d}/m1`]);
    execFileSync('mount', ['-t', 'overlay', '-o', `lowerdir=${d}/m1,upperdir=${d}/u2,workdir=${d}/w2`, 'minc-e2e-o2', `${d}/m2`]);
    try {
      const r = await runMinc(['--debug', 'sh', '-c', `cat ${d}/m2/f; (echo x > ${d}/m2/g) 2>/dev/null || echo read-only`]);
      expect(r.stdout).toBe('two deep\nread-only');
      expect(r.stderr).toContain(`minc: ${d}/m2: overlayfs refused it as a lower dir: bound read-only`);
      expect(r.exitCode).toBe(0);
      expect(existsSync(join(d, 'm2', 'g'))).toBe(false);
    } finally {
      execFileSync('umount', [`${d}/m2`]);
      execFileSync('umount', [`${d}/m1`]);
      rmSync(d, { recursive: true, force: true });
    }
  });

  it("minc's own set-up is no change: `minc -k true` leaves every upper empty and makes nothing", async () => {
    const base = privateBase();
    try {
      const r = await runMinc(['-k', '--name', 'quiet', 'true'], { env: base.env });
      expect(r.exitCode).toBe(0);
      const dir = reuseDir(r.stderr);
      expect(tree(join(dir, 'storage'))).toEqual([]);
      for (const m of readdirSync(join(dir, 'mounts'))) expect(tree(join(dir, 'mounts', m, 'upper')), m).toEqual([]);
      expect(existsSync(join(dir, 'made'))).toBe(false);
      removeKept(dir);
    } finally {
      base.remove();
    }
  });

  it('the host root as an overlay: minc inside minc sees the mounts and keeps the host unchanged', async () => {
    const before = tree(top);
    // (the checkout is bound in: it may live below /tmp, which the container gets fresh)
    const r = await runMinc(['-b', ROOT, MINC, 'sh', '-c', `cat ${deep}/g; echo x > ${deep}/inner; cat ${deep}/inner; grep -c ' overlay ' /proc/mounts`]);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/^deep\nx\n\d+$/);
    expect(tree(top)).toEqual(before);
    // and inside --direct (the host root bound with its mounts): the inner sandbox sees them too
    const d = await runMinc(['-D', '-b', ROOT, MINC, 'cat', `${deep}/g`]);
    expect(d.stdout).toBe('deep');
    expect(d.exitCode).toBe(0);
  });
});

describe('/run and --hide', () => {
  it("/run is fresh: a host socket there is not reachable; -b brings it in", async () => {
    const sock = join(sockDir, 's.sock');
    const r = await runMinc(['sh', '-c', `ls /run | grep -c minc-e2e-sock; test -S ${sock} && echo there || echo absent`]);
    expect(r.stdout).toBe('0\nabsent');
    const b = await runMinc(['-b', sockDir, 'sh', '-c', `test -S ${sock} && echo there`]);
    expect(b.stdout).toBe('there');
  });

  it('--hide makes a dir and a file show empty, under a host mount too; the host keeps them', async () => {
    const r = await runMinc(['--hide', `${top}/secret`, '--hide', `${top}/token`, '--hide', `${top}/absent`, 'sh', '-c',
      `ls -A ${top}/secret | wc -l; cat ${top}/token | wc -c; cat ${top}/f; (echo x > ${top}/secret/new) 2>/dev/null || echo refused`]);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('0\n0\ntop\nrefused');
    expect(readFileSync(join(top, 'secret', 'key'), 'utf8')).toBe('KEY\n');
    expect(readFileSync(join(top, 'token'), 'utf8')).toBe('TOKEN\n');
  });

  it('--hide takes absolute paths only', async () => {
    for (const bad of ['relative', '/', '/a/../b']) {
      const r = await runMinc(['--hide', bad, 'true']);
      expect(r.exitCode).toBe(2);
      expect(r.stderr).toMatch(/^minc: --hide/);
    }
  });
});
