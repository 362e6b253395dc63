/**
 * minc --cross ARCH (issue 14): an arm64 busybox root (Debian's
 * busybox-static:arm64) run under qemu-user-static, registered in the
 * binfmt_misc of the container's own user namespace.  The host's
 * binfmt_misc must not change, not even while a container runs.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectNothingLeft, runMinc, startMinc, waitFor } from '../helpers/e2e.js';
import { makeBusyboxRootfs } from '../helpers/rootfs.js';
import { lastLine, makeStore, type TestStore } from '../helpers/marten.js';
import { ociLayoutTar, sha, tarOf } from '../helpers/images.js';
import { makeUser, mincAsUser, removeUser } from '../helpers/rootless.js';

/** .ci/run downloads the .deb here (after dpkg --add-architecture arm64). */
const CACHE = '/var/cache/mincs-test';
const HOST_BINFMT = '/proc/sys/fs/binfmt_misc';

let scratch: string;
let rootfs: { dir: string; remove: () => void };
let store: TestStore;
let hostBefore: { listing: string[]; mounts: string[] };

/** The host's binfmt_misc: its entries, and what is mounted there. */
const hostBinfmt = () => ({
  listing: readdirSync(HOST_BINFMT).sort().map((n) => `${n}: ${n === 'register' ? '' : readFileSync(join(HOST_BINFMT, n), 'utf8')}`),
  mounts: readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes('binfmt')),
});

/** busybox-static:arm64's .deb: .ci/run's copy, else apt-get download into our scratch dir. */
function arm64Deb(): string {
  const cached = existsSync(CACHE) ? readdirSync(CACHE).find((n) => /^busybox-static_.*_arm64\.deb$/.test(n)) : undefined;
  if (cached) return join(CACHE, cached);
  try {
    execFileSync('apt-get', ['download', 'busybox-static:arm64'], { cwd: scratch, stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    throw new Error(`busybox-static:arm64 is not in ${CACHE} and apt-get download failed (dpkg --add-architecture arm64; apt-get update: .ci/run does it): ${String(err)}`);
  }
  return join(scratch, readdirSync(scratch).find((n) => n.endsWith('_arm64.deb'))!);
}

beforeAll(() => {
  scratch = mkdtempSync('/tmp/minc-e2e-cross-');
  const x = join(scratch, 'deb');
  execFileSync('dpkg-deb', ['-x', arm64Deb(), x]);
  rootfs = makeBusyboxRootfs(scratch, join(x, 'bin/busybox'));
  // it is a foreign binary: the host cannot run it itself
  expect(execFileSync('file', ['-b', join(rootfs.dir, 'bin/busybox')], { encoding: 'utf8' }).toString()).toMatch(/aarch64|ARM aarch64/);
  store = makeStore();
  hostBefore = hostBinfmt();
}, 120_000);

afterAll(() => {
  store?.remove();
  rootfs?.remove();
  rmSync(scratch, { recursive: true, force: true });
  expectNothingLeft();
});

describe('--cross arm64', () => {
  it('without --cross the root cannot run: its busybox is foreign', async () => {
    const r = await runMinc(['-r', rootfs.dir, 'uname', '-m']);
    expect(r.exitCode).not.toBe(0);
    expect(r.stdout).toBe('');
  });

  it('uname -m is aarch64', async () => {
    const r = await runMinc(['--cross', 'arm64', '-r', rootfs.dir, 'uname', '-m']);
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe('aarch64');
  });

  it('every process runs under the interpreter: a pipeline of foreign binaries, a script exec-ing them', async () => {
    const r = await runMinc(['--cross', 'arm64', '-r', rootfs.dir, 'sh', '-c', 'echo hi | tr a-z A-Z | wc -c; sh -c "exec uname -m" | tr a-z A-Z; cat /proc/sys/fs/binfmt_misc/minc-qemu-aarch64']);
    expect(r.exitCode).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines.slice(0, 2)).toEqual(['3', 'AARCH64']);
    expect(r.stdout).toMatch(/^interpreter \/usr\/bin\/qemu-aarch64-static$/m);
    expect(r.stdout).toMatch(/^flags: \w*F/m);
  });

  it('stdin and the exit status are the command\'s', async () => {
    const r = await runMinc(['--cross', 'arm64', '-r', rootfs.dir, 'sh', '-c', 'tr a-z A-Z; exit 7'], { input: 'piped\n', stdin: 'pipe' });
    expect(r.stdout).toBe('PIPED');
    expect(r.exitCode).toBe(7);
  });

  it('--user and --as-pid-1 work under it too', async () => {
    const u = await runMinc(['--cross', 'arm64', '-r', rootfs.dir, '--user', '1000', 'sh', '-c', 'id -u; uname -m']);
    expect(u.stdout).toBe('1000\naarch64');
    const p = await runMinc(['--cross', 'arm64', '-r', rootfs.dir, '--as-pid-1', 'sh', '-c', 'echo $$; uname -m']);
    expect(p.stdout).toBe('1\naarch64');
  });

  it('a kept temp dir is reused with --cross again (its fifo made anew)', async () => {
    const dir = join(scratch, 'kept');
    const a = await runMinc(['--cross', 'arm64', '-r', rootfs.dir, '-t', dir, 'sh', '-c', 'echo kept > /f']);
    expect(a.exitCode).toBe(0);
    // the line that says how to reuse it names --cross, and the dir's settings keep it
    expect(a.stderr).toMatch(/to reuse this, run: minc --cross arm64 -r \S+ -t /);
    const b = await runMinc(['--cross', 'arm64', '-t', dir, 'sh', '-c', 'cat /f; uname -m']);
    expect(b.stderr).not.toMatch(/File exists/);
    expect(b.stdout).toBe('kept\naarch64');
    const c = await runMinc(['-t', dir, 'uname', '-m']);
    expect(c.stdout).toBe('aarch64');
    rmSync(dir, { recursive: true, force: true });
  });

  it("the command's environment has nothing of the stage's re-entry (MINC_STAGE, MINC_RESUME, minc_*)", async () => {
    const r = await runMinc(['--cross', 'arm64', '-r', rootfs.dir, 'env'], { env: { ...process.env, MINC_CANARY: 'x' } });
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/^PATH=/m);
    expect(r.stdout).not.toMatch(/^minc_|^MINC_/im);
  });

  it('the alias names: --arch, aarch64, --cross=ARCH', async () => {
    for (const args of [['--arch', 'arm64'], ['--cross', 'aarch64'], ['--arch=aarch64'], ['--cross=arm64']]) {
      const r = await runMinc([...args, '-r', rootfs.dir, 'uname', '-m']);
      expect({ args, out: r.stdout, status: r.exitCode }).toEqual({ args, out: 'aarch64', status: 0 });
    }
  });

  it('a bad ARCH: one minc: line naming the known ones, status 2, nothing left', async () => {
    const r = await runMinc(['--cross', 'vax', '-r', rootfs.dir, 'true']);
    expect(r.exitCode).toBe(2);
    expect(r.stderr.split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^minc: --cross 'vax': unknown architecture \(known: .*arm64.*aarch64.*riscv64.*s390x\)$/);
    expectNothingLeft();
  });

  it("the host's binfmt_misc is the same before, during and after a run", async () => {
    const running = startMinc(['--cross', 'arm64', '-r', rootfs.dir, 'sh', '-c', 'ls /proc/sys/fs/binfmt_misc; read x'], { stdin: 'pipe' });
    // while it runs: its registration is there inside (it listed it), not on the host
    let seen = '';
    (running as unknown as { stdout: NodeJS.ReadableStream }).stdout.on('data', (d: Buffer) => (seen += d.toString()));
    await waitFor(() => seen.includes('minc-qemu-aarch64'), 'the container to list its binfmt_misc');
    expect(hostBinfmt()).toEqual(hostBefore);
    (running as unknown as { stdin: NodeJS.WritableStream }).stdin.end('go\n');
    const r = await running;
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/minc-qemu-aarch64/);
    expect(hostBinfmt()).toEqual(hostBefore);
  });
});

describe('an arm64 image of the store', () => {
  let id: string;
  beforeAll(async () => {
    const tar = join(scratch, 'arm64-oci.tar');
    const layer = tarOf(rootfs.dir);
    ociLayoutTar({
      layers: [layer],
      config: { architecture: 'arm64', os: 'linux', config: { Cmd: ['/bin/uname', '-m'] }, rootfs: { type: 'layers', diff_ids: [sha(layer)] } },
      remove: () => undefined,
    }, tar);
    const r = await store.marten(['import', tar]);
    expect(r.exitCode).toBe(0);
    id = lastLine(r.stdout);
  }, 120_000);

  it('minc -r IMAGE says it is arm64 and suggests --cross', async () => {
    const r = await store.minc(['-r', id]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/^minc: the image is arm64, this host is amd64: run it with --cross arm64\n?$/);
  });

  it('minc --cross arm64 -r IMAGE runs it; a --cross of another architecture says which one it needs', async () => {
    const r = await store.minc(['--cross', 'arm64', '-r', id]);
    expect(r.stdout).toBe('aarch64');
    expect(r.exitCode).toBe(0);
    const w = await store.minc(['--cross', 'riscv64', '-r', id]);
    expect(w.exitCode).toBe(2);
    expect(w.stderr).toMatch(/--cross riscv64: the image is arm64: use --cross arm64/);
  });
});

describe('--cross arm64 as an ordinary user (rootless)', () => {
  it("runs every process under the interpreter, registered in the run's own user namespace; the host's binfmt_misc is unchanged", async () => {
    const user = await makeUser();
    const copy = mkdtempSync('/var/tmp/minc-e2e-cross-user-');
    try {
      execFileSync('cp', ['-a', `${rootfs.dir}/.`, copy]);
      execFileSync('chown', ['-R', `${user.uid}:${user.gid}`, copy]);
      execFileSync('chmod', ['755', copy]);
      const r = await mincAsUser(user, ['--cross', 'arm64', '-r', copy, 'sh', '-c', 'uname -m | tr a-z A-Z; id -u']);
      expect(r.stderr).toBe('');
      expect(r.stdout).toBe('AARCH64\n0');
      expect(hostBinfmt()).toEqual(hostBefore);
    } finally {
      await removeUser(user);
      rmSync(copy, { recursive: true, force: true });
    }
  });
});
