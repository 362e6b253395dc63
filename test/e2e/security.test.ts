/**
 * The sandbox boundary against a hostile rootfs, image or temp dir (issue 8):
 * each test is a way out that was found, in more than one shape.  Canaries
 * live under a dir this file makes; nothing here writes anywhere else.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectNothingLeft, ourTempdirs, privateBase, reuseDir, removeKept, runMinc, startMinc, tempdirsOf, waitFor } from '../helpers/e2e.js';
import { makeBusyboxRootfs } from '../helpers/rootfs.js';
import { dockerSaveTar, sha, tarOf, type Fixture } from '../helpers/images.js';
import { makeStore, type TestStore } from '../helpers/marten.js';

let rootfs: { dir: string; remove: () => void };
/** canaries: host files and dirs a hostile root tries to reach */
let canary: string;
let src: string;
let srcFile: string;

beforeAll(() => {
  rootfs = makeBusyboxRootfs();
  canary = mkdtempSync('/tmp/minc-canary-');
  mkdirSync(join(canary, 'w'));
  writeFileSync(join(canary, 'f'), 'host file\n');
  symlinkSync(join(canary, 'nowhere'), join(canary, 'w', 'dangling'));
  src = mkdtempSync('/tmp/minc-sec-src-');
  writeFileSync(join(src, 'in'), 'BOUND\n');
  srcFile = join(src, 'in');
});

afterAll(() => {
  rootfs.remove();
  rmSync(canary, { recursive: true, force: true });
  rmSync(src, { recursive: true, force: true });
  expectNothingLeft();
});

/** Everything under the canary dir, links as links. */
function canaryTree(): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const n of readdirSync(d).sort()) {
      const p = join(d, n);
      const st = lstatSync(p);
      out.push(`${p}${st.isSymbolicLink() ? ' -> link' : st.isDirectory() ? '/' : ''}`);
      if (st.isDirectory()) walk(p);
    }
  };
  walk(canary);
  return out;
}

/** Run with a link planted in the rootfs; the link goes afterwards. */
async function withLinks(links: Record<string, string>, fn: () => Promise<void>): Promise<void> {
  for (const [at, to] of Object.entries(links)) symlinkSync(to, join(rootfs.dir, at));
  try {
    await fn();
  } finally {
    for (const at of Object.keys(links)) rmSync(join(rootfs.dir, at), { force: true });
  }
}

describe('-b targets through links of the root directory stay inside the root', () => {
  // pivot_root puts the host root on /tmp until it is detached: /tmp/tmp/X is the host's /tmp/X then
  const shapes: [string, () => Record<string, string>][] = [
    ['an absolute link to the host root at put_old (/mnt -> /tmp/tmp/CANARY/w)', () => ({ mnt: `/tmp${canary}/w` })],
    ['an absolute link to a host path (/mnt -> CANARY/w)', () => ({ mnt: `${canary}/w` })],
    ['a relative link climbing out (/mnt -> ../../../../tmp/tmp/CANARY/w)', () => ({ mnt: `../../../../../..${`/tmp${canary}`}/w` })],
    ['a chain of links (/mnt -> /hop, /hop -> /tmp/tmp/CANARY)', () => ({ hop: `/tmp${canary}`, mnt: '/hop/w' })],
  ];
  for (const [what, links] of shapes) {
    it(`${what}: a file bind at /mnt/sub/file makes nothing on the host, and the command sees the bind`, async () => {
      const before = canaryTree();
      await withLinks(links(), async () => {
        const r = await runMinc(['-r', rootfs.dir, '-b', `${srcFile}:/mnt/sub/file`, '-b', `${src}:/mnt/dir/sub`, 'sh', '-c', 'cat /mnt/sub/file /mnt/dir/sub/in']);
        expect(r.stderr).toBe('');
        expect(r.stdout).toBe('BOUND\nBOUND');
        expect(r.exitCode).toBe(0);
      });
      expect(canaryTree()).toEqual(before);
    });
  }

  it("a dangling host link at the target (/mnt/dangling, /mnt -> /tmp/tmp/CANARY/w) is neither replaced nor followed", async () => {
    const before = canaryTree();
    await withLinks({ mnt: `/tmp${canary}/w` }, async () => {
      const r = await runMinc(['-r', rootfs.dir, '-b', `${srcFile}:/mnt/dangling`, 'true']);
      expect(r.exitCode).toBe(0);
    });
    expect(canaryTree()).toEqual(before);
    expect(lstatSync(join(canary, 'w', 'dangling')).isSymbolicLink()).toBe(true);
    expect(existsSync(join(canary, 'nowhere'))).toBe(false);
  });

  it('a final component that links to a host file (/etc/x -> CANARY/f) binds inside the root; the host file is untouched', async () => {
    await withLinks({ 'etc/x': `${canary}/f`, 'etc/y': `/tmp${canary}/f` }, async () => {
      const r = await runMinc(['-r', rootfs.dir, '-b', `${srcFile}:/etc/x`, '-b', `${srcFile}:/etc/y`, 'sh', '-c', 'cat /etc/x /etc/y']);
      expect(r.stderr).toBe('');
      expect(r.stdout).toBe('BOUND\nBOUND');
    });
    expect(readFileSync(join(canary, 'f'), 'utf8')).toBe('host file\n');
  });

  it('a link loop is one clear error, status 125, nothing left', async () => {
    await withLinks({ a: '/b', b: '/a' }, async () => {
      const r = await runMinc(['-r', rootfs.dir, '-b', `${src}:/a/x`, 'true']);
      expect(r.exitCode).toBe(125);
      expect(r.stderr).toMatch(/^minc: .*\/a\/x.*too many levels of symbolic links\n?$/);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    });
  });

  it('a bind onto a file below a file is one clear line', async () => {
    const r = await runMinc(['-r', rootfs.dir, '-b', `${src}:/bin/busybox/x`, 'true']);
    expect(r.exitCode).toBe(125);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^minc: .*\/bin\/busybox.*not a directory/);
  });

  it('a bind onto /proc/x is one clear line', async () => {
    const r = await runMinc(['-r', rootfs.dir, '-b', `${src}:/proc/x`, 'true']);
    expect(r.exitCode).toBe(125);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^minc: .*\/proc\/x/);
  });
});

describe('an image whose layer holds a link out of the root', () => {
  let store: TestStore;
  beforeAll(() => {
    store = makeStore();
  });
  afterAll(() => store.remove());

  function hostileImage(entries: Record<string, string>, config: Record<string, unknown> = {}): Fixture {
    const base = makeBusyboxRootfs();
    for (const [at, to] of Object.entries(entries)) symlinkSync(to, join(base.dir, at));
    const layers = [tarOf(base.dir)];
    base.remove();
    return {
      layers,
      config: { architecture: 'amd64', os: 'linux', config: { Env: ['PATH=/bin'], ...config }, rootfs: { type: 'layers', diff_ids: layers.map(sha) } },
      remove: () => undefined,
    };
  }

  async function importImage(fx: Fixture, name: string): Promise<void> {
    const tar = join(canary, '..', `${name}-${process.pid}.tar`);
    dockerSaveTar(fx, tar, `${name}:latest`);
    try {
      const r = await store.marten(['import', tar]);
      expect(r.stderr).not.toMatch(/error/i);
      expect(r.exitCode).toBe(0);
    } finally {
      rmSync(tar, { force: true });
    }
  }

  it('data -> /tmp/tmp/CANARY: -b src:/data/sub makes nothing on the host', async () => {
    await importImage(hostileImage({ data: `/tmp${canary}` }), 'linkout');
    const before = canaryTree();
    const r = await store.minc(['-r', 'linkout', '-b', `${src}:/data/sub`, 'cat', '/data/sub/in']);
    expect(r.stderr).not.toMatch(/^minc: (?!to reuse)/m);
    expect(r.stdout).toBe('BOUND');
    expect(canaryTree()).toEqual(before);
  });

  it('a WorkingDir through a link to the host root (/w -> /tmp) is entered inside the container, whatever drops privileges', async () => {
    await importImage(hostileImage({ w: '/tmp' }, { WorkingDir: '/w' }), 'wdout');
    // the busybox root has no /usr: a listing with it is the host's root
    for (const extra of [[], ['--user', '1000'], ['--nocaps', 'cap_sys_admin'], ['--user', '1000', '--nocaps', 'all']]) {
      const r = await store.minc(['-r', 'wdout', ...extra, 'sh', '-c', 'pwd; ls -a; ls ../../../ | grep -c usr']);
      expect(r.stdout, extra.join(' ')).toBe('/w\n.\n..\n0');
    }
  });
});

describe('-t DIR is a minc temp dir, or a new one', () => {
  it('refuses a dir owned by another user, and writes nothing through its links', async () => {
    const t = mkdtempSync('/tmp/minc-sec-t-');
    try {
      for (const f of ['hosts', 'resolv.conf', 'settings', 'utsname', 'pid']) symlinkSync(join(canary, 'f'), join(t, f));
      symlinkSync(join(canary, 'w'), join(t, 'storage'));
      chownSync(t, 65534, 65534);
      const r = await runMinc(['-t', t, '-r', rootfs.dir, '--name', 'evil', 'true']);
      expect(r.exitCode).toBe(2);
      expect(r.stderr).toMatch(/^minc: --tempdir .*owned by/);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(readFileSync(join(canary, 'f'), 'utf8')).toBe('host file\n');
      expect(readdirSync(join(canary, 'w'))).toEqual(['dangling']);
    } finally {
      rmSync(t, { recursive: true, force: true });
    }
  });

  it('refuses our own dir whose entries are links (no canary written)', async () => {
    const t = mkdtempSync('/tmp/minc-sec-t-');
    try {
      // a genuine kept dir, then its files swapped for links
      const k = await runMinc(['-t', t, '-r', rootfs.dir, 'true']);
      expect(k.exitCode).toBe(0);
      for (const f of ['hosts', 'settings']) {
        rmSync(join(t, f));
        symlinkSync(join(canary, 'f'), join(t, f));
      }
      const r = await runMinc(['-t', t, 'true']);
      expect(r.exitCode).toBe(2);
      expect(r.stderr).toMatch(/^minc: --tempdir .*(hosts|settings).* symbolic link/);
      expect(readFileSync(join(canary, 'f'), 'utf8')).toBe('host file\n');
    } finally {
      rmSync(t, { recursive: true, force: true });
    }
  });

  it('refuses a dir others can write to, a dir that is not minc\'s, /, and paths with , : or a newline', async () => {
    const t = mkdtempSync('/tmp/minc-sec-t-');
    const other = mkdtempSync('/tmp/minc-sec-other-');
    writeFileSync(join(other, 'precious'), 'x\n');
    try {
      chmodSync(t, 0o777);
      const cases: [string[], RegExp][] = [
        [['-t', t], /writable by others/],
        [['-t', other], /not a minc temporary directory/],
        [['--dry-run', '-t', '/'], /--tempdir '\/'/],
        [['-t', `${t},upperdir=${canary}/up,workdir=${canary}/wk`], /',', ':'/],
        [['-t', `${t}:x`], /',', ':'/],
        [['-t', `${t}\nx`], /newline/],
      ];
      for (const [args, msg] of cases) {
        const r = await runMinc([...args, '-r', rootfs.dir, 'true']);
        expect(r.exitCode, args.join(' ')).toBe(2);
        expect(r.stderr).toMatch(msg);
        expect(r.stderr.trim().split('\n')).toHaveLength(1);
      }
      expect(readdirSync(other)).toEqual(['precious']);
      expect(readdirSync(t)).toEqual([]);
      expect(existsSync(join(canary, 'up'))).toBe(false);
    } finally {
      rmSync(t, { recursive: true, force: true });
      rmSync(other, { recursive: true, force: true });
    }
  });

  it('a new path is made (0700) and kept; kept temp dirs are 0700', async () => {
    const parent = mkdtempSync('/tmp/minc-sec-new-');
    const t = join(parent, 'fresh');
    try {
      const r = await runMinc(['-t', t, '-r', rootfs.dir, 'sh', '-c', 'echo kept > /k']);
      expect(r.exitCode).toBe(0);
      expect(statSync(t).mode & 0o777).toBe(0o700);
      expect(readFileSync(join(t, 'storage', 'k'), 'utf8')).toBe('kept\n');
      const again = await runMinc(['-t', t, 'cat', '/k']);
      expect(again.stdout).toBe('kept');
    } finally {
      rmSync(parent, { recursive: true, force: true });
    }
    const base = privateBase();
    try {
      const k = await runMinc(['-k', '-r', rootfs.dir, 'true'], { env: base.env });
      const dir = reuseDir(k.stderr);
      expect(statSync(dir).mode & 0o777).toBe(0o700);
      removeKept(dir);
    } finally {
      base.remove();
    }
  });
});

describe('files the rootfs names are read inside it, bounded', () => {
  it("--user NAME with /etc/passwd -> /dev/zero ends at once with a clear line", async () => {
    const saved = join(rootfs.dir, 'etc/passwd.saved');
    execFileSync('mv', [join(rootfs.dir, 'etc/passwd'), saved]);
    try {
      execFileSync('mknod', ['-m', '666', join(rootfs.dir, 'dev/zero'), 'c', '1', '5']);
      await withLinks({ 'etc/passwd': '/dev/zero' }, async () => {
        const r = await runMinc(['-r', rootfs.dir, '--user', 'user', 'true'], { timeout: 20_000 });
        expect(r.timedOut).toBe(false);
        expect(r.exitCode).toBe(2);
        expect(r.stderr).toMatch(/^minc: --user 'user': .*\/etc\/passwd.*not a regular file/);
      });
    } finally {
      execFileSync('mv', [saved, join(rootfs.dir, 'etc/passwd')]);
      rmSync(join(rootfs.dir, 'dev/zero'), { force: true });
    }
  });

  it("--user NAME with /etc/passwd -> a host file does not read the host's file", async () => {
    writeFileSync(join(canary, 'passwd'), 'hostonly:x:4242:4242::/:/bin/sh\n');
    const saved = join(rootfs.dir, 'etc/passwd.saved');
    execFileSync('mv', [join(rootfs.dir, 'etc/passwd'), saved]);
    try {
      for (const to of [`${canary}/passwd`, `../../../../..${canary}/passwd`]) {
        await withLinks({ 'etc/passwd': to }, async () => {
          const r = await runMinc(['-r', rootfs.dir, '--user', 'hostonly', 'id', '-u']);
          expect(r.stdout).not.toContain('4242');
          expect(r.exitCode).toBe(2);
          expect(r.stderr).toMatch(/no user 'hostonly'/);
        });
      }
    } finally {
      execFileSync('mv', [saved, join(rootfs.dir, 'etc/passwd')]);
    }
  });
});

describe('names that are not UTF-8', () => {
  it('a run that made /\\377x exits 0 and leaves nothing; --gc cleans such a dir after a SIGKILL', async () => {
    const r = await runMinc(['-r', rootfs.dir, 'sh', '-c', 'touch "$(printf "/\\377x")"; mkdir "$(printf "/d\\376")"; touch "$(printf "/d\\376/\\375")"']);
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    expect(ourTempdirs()).toEqual([]);

    const base = privateBase();
    try {
      const p = startMinc(['-r', rootfs.dir, 'sh', '-c', 'touch "$(printf "/\\377y")"; echo ready; sleep 30'], { env: base.env });
      await waitFor(() => tempdirsOf(p.pid, base.dir).length === 1 && existsSync(join(base.dir, tempdirsOf(p.pid, base.dir)[0]!, 'pid')), 'the run to start');
      await new Promise((res) => setTimeout(res, 300));
      p.kill('SIGKILL');
      await p;
      await waitFor(() => {
        try {
          execFileSync('pgrep', ['-f', `minc${p.pid}-`]);
          return false;
        } catch {
          return true;
        }
      }, 'the container to die');
      const gc = await runMinc(['--gc'], { env: base.env });
      expect(gc.stderr).not.toMatch(/ENOENT|error/i);
      expect(gc.exitCode).toBe(0);
      expect(tempdirsOf(p.pid, base.dir)).toEqual([]);
    } finally {
      base.remove();
    }
  });
});
