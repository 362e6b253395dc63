/**
 * polecat end to end, as root, on a throwaway busybox rootfs: bundles built
 * once (beforeAll), then run as users run them.  The python3 bundle is
 * built from the host's / and run in a minc whose root lacks python3.
 */
import { execa, type Options } from 'execa';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { processesWithArg, sleep, waitFor } from '../helpers/e2e.js';
import { makeStore, type TestStore } from '../helpers/marten.js';
import { isRoot, MINC, ROOT } from '../helpers/minc.js';
import { makeBusyboxRootfs } from '../helpers/rootfs.js';

const POLECAT = `${ROOT}bin/polecat`;

/** pids of the processes whose whole command line is argv (the container's command, not the launcher naming it) */
const running = (...argv: string[]): number[] =>
  processesWithArg(argv.at(-1)!).filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8') === `${argv.join('\0')}\0`;
    } catch {
      return false;
    }
  });

interface Out {
  exitCode: number;
  stdout: string;
  stderr: string;
}

async function run(file: string, args: readonly string[], opts: Options = {}): Promise<Out> {
  const r = await execa(file, args, { reject: false, stdin: 'ignore', timeout: 120_000, encoding: 'utf8', ...opts });
  return { exitCode: r.exitCode ?? 128, stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? '') };
}

let rootfs: { dir: string; remove: () => void };
let work: string;
/** polecat's own temp dirs go here ($TMPDIR): each test checks none is left */
let tmp: string;
let env: NodeJS.ProcessEnv;
const polecat = (args: readonly string[], opts: Options = {}): Promise<Out> => run(POLECAT, args, { env, ...opts });
const leftovers = (): string[] => readdirSync(tmp);
/** loop devices and mounts that name our files: none may outlive a run */
const traces = async (): Promise<string[]> => {
  const loops = (await run('losetup', ['-a'])).stdout.split('\n').filter((l) => l.includes(work));
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(work) || / polecat /.test(l));
  return [...loops, ...mounts];
};

describe.runIf(isRoot)('polecat', () => {
  beforeAll(async () => {
    rootfs = makeBusyboxRootfs();
    work = mkdtempSync('/tmp/polecat-e2e-');
    tmp = join(work, 'tmp');
    mkdirSync(tmp);
    env = { ...process.env, TMPDIR: tmp };
    const builds = await Promise.all([
      polecat(['-o', join(work, 'ps.sh'), rootfs.dir, 'ps']),
      polecat(['-o', join(work, 'whole.sh'), rootfs.dir]),
    ]);
    for (const b of builds) expect(b.exitCode, b.stderr).toBe(0);
    const t0 = Date.now();
    const py = await polecat(['-o', join(work, 'py.sh'), '/', 'python3', '-c', 'print(6*7)'], { env: { ...env, PATH: '/usr/sbin:/usr/bin:/sbin:/bin' } });
    expect(py.exitCode, py.stderr).toBe(0);
    console.log(`polecat: python3 bundle built in ${Date.now() - t0} ms, ${statSync(join(work, 'py.sh')).size} bytes`);
  });
  afterAll(() => {
    rootfs?.remove();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('runs ps as PID 1 (MINCS test.d/01_rootfs/polecat.sh)', async () => {
    const r = await run(join(work, 'ps.sh'), []);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^\s*1\s.*\bps$/m);
  });

  it('passes its arguments to the command and exits with its status', async () => {
    const r = await run(join(work, 'whole.sh'), ['sh', '-c', 'echo "$@"; echo oops >&2; exit 7', 'x', 'a b', 'c']);
    expect(r.exitCode).toBe(7);
    expect(r.stdout).toBe('a b c');
    expect(r.stderr).toBe('oops');
    const ps = await run(join(work, 'ps.sh'), ['-o', 'pid,args']);
    expect(ps.stdout).toMatch(/^\s*1\s+ps -o pid,args$/m);
  });

  it('says a bundle without a command needs one', async () => {
    const r = await run(join(work, 'whole.sh'), []);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/^polecat: this bundle has no command/);
  });

  it('lets the command write, and the writes are gone on the next run; /etc/hosts is this host\'s', async () => {
    const w = await run(join(work, 'whole.sh'), ['sh', '-c', 'echo canary > /etc/canary && rm /bin/ls && cat /etc/canary && cat /etc/hosts']);
    expect(w.exitCode, w.stderr).toBe(0);
    expect(w.stdout).toBe(`canary\n${readFileSync('/etc/hosts', 'utf8').trimEnd()}`);
    const again = await run(join(work, 'whole.sh'), ['sh', '-c', 'test ! -e /etc/canary && test -L /bin/ls && echo clean']);
    expect(again.stdout).toBe('clean');
    expect(await traces()).toEqual([]);
  });

  it('works on stdin and stdout pipes', async () => {
    const r = await run(join(work, 'whole.sh'), ['sh', '-c', 'tr a-z A-Z'], { input: 'piped through\n', stdin: undefined });
    expect(r.stdout).toBe('PIPED THROUGH');
  });

  it('runs with no node on PATH, from another directory', async () => {
    const bin = join(work, 'nonode-bin');
    mkdirSync(bin);
    const tools = ['sh', 'id', 'readlink', 'setpriv', 'unshare', 'mount', 'umount', 'pivot_root', 'mkdir', 'cp', 'ln', 'rm', 'cat', 'head', 'tr', 'grep', 'sed', 'kill'];
    for (const t of tools) {
      const p = ['/usr/bin', '/bin', '/usr/sbin', '/sbin'].map((d) => join(d, t)).find((f) => existsSync(f));
      if (!p) throw new Error(`${t} not on this host`);
      symlinkSync(p, join(bin, t));
    }
    const cwd = mkdtempSync(join(work, 'elsewhere-'));
    const r = await run('../whole.sh', ['sh', '-c', 'echo $PWD; ls /bin/busybox'], { cwd, env: { PATH: bin } });
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('/\n/bin/busybox');
    expect((await run('sh', ['-c', 'command -v node || echo none'], { env: { PATH: bin } })).stdout).toBe('none');
  });

  it('ends the command on SIGTERM as minc does: 128+N, or the command\'s own handling', async () => {
    const token = `${4000 + (process.pid % 1000)}`;
    const p = execa(join(work, 'whole.sh'), ['sleep', token], { reject: false });
    await waitFor(() => running('sleep', token).length > 0, 'sleep to start');
    p.kill('SIGTERM');
    expect((await p).exitCode).toBe(143);
    const q = execa(join(work, 'whole.sh'), ['sh', '-c', 'trap "echo caught; exit 3" TERM; echo ready; while :; do sleep 1; done'], { reject: false });
    let said = '';
    q.stdout?.on('data', (d: Buffer) => (said += d.toString()));
    await waitFor(() => said.includes('ready'), 'the command to set its trap');
    q.kill('SIGTERM');
    const r = await q;
    expect(r.exitCode).toBe(3);
    expect(r.stdout).toBe('ready\ncaught');
  });

  it('leaves nothing behind after a SIGKILL', async () => {
    const token = `${5000 + (process.pid % 1000)}`;
    const p = execa(join(work, 'whole.sh'), ['sleep', token], { reject: false });
    await waitFor(() => running('sleep', token).length > 0, 'sleep to start');
    expect((await traces()).length).toBeGreaterThan(0); // the loop device while it runs
    p.kill('SIGKILL');
    await p;
    await waitFor(() => processesWithArg(token).length === 0, 'the container to die');
    await waitFor(() => processesWithArg('polecat').length === 0, 'PID 1 and unshare to go');
    for (let i = 0; i < 50 && (await traces()).length > 0; i++) await sleep(100);
    expect(await traces()).toEqual([]);
    expect(leftovers()).toEqual([]);
  });

  it('runs for a user who is not root (a user namespace and squashfuse), and leaves nothing after a SIGKILL', async () => {
    // a copy nobody can read and run (work is 0700)
    const dir = mkdtempSync('/var/tmp/polecat-e2e-user-');
    try {
      chmodSync(dir, 0o755);
      const b = join(dir, 'whole.sh');
      copyFileSync(join(work, 'whole.sh'), b);
      chmodSync(b, 0o755);
      const nobody = ['--reuid', '65534', '--regid', '65534', '--clear-groups'];
      const r = await run('setpriv', [...nobody, b, 'sh', '-c', 'id -u; echo w > /etc/w && cat /etc/w; exit 5'], { cwd: dir });
      expect(r.stderr).toBe('');
      expect(r.stdout).toBe('0\nw');
      expect(r.exitCode).toBe(5);
      const token = `${6000 + (process.pid % 1000)}`;
      const p = execa('setpriv', [...nobody, b, 'sleep', token], { reject: false, cwd: dir });
      await waitFor(() => running('sleep', token).length > 0, 'sleep to start');
      expect(processesWithArg('/proc/self/fd/3').length).toBeGreaterThan(0); // squashfuse, while it runs
      p.kill('SIGKILL');
      await p;
      await waitFor(() => running('sleep', token).length === 0, 'the container to die');
      await waitFor(() => processesWithArg('/proc/self/fd/3').length === 0, 'squashfuse to go');
      expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toMatch(/squashfuse/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('builds tgz and squashfs bundles that minc -r runs once unpacked', async () => {
    const tgz = join(work, 'ps.tgz');
    const sfs = join(work, 'ps.sfs');
    expect((await polecat(['-f', 'tgz', '-o', tgz, rootfs.dir, 'ps'])).exitCode).toBe(0);
    expect((await polecat(['--format=sfs', '-o', sfs, rootfs.dir, 'ps'])).exitCode).toBe(0);
    const names = (await run('tar', ['-tzf', tgz])).stdout.split('\n');
    expect(names).toEqual(expect.arrayContaining(['./bin/busybox', './bin/ps', './.polecat.json', './proc/', './tmp/']));
    expect(names).not.toContain('./bin/ls'); // only what ps used
    const a = join(work, 'from-tgz');
    const b = join(work, 'from-sfs');
    mkdirSync(a);
    expect((await run('tar', ['-xzpf', tgz, '-C', a])).exitCode).toBe(0);
    expect((await run('unsquashfs', ['-no-progress', '-d', b, sfs])).exitCode).toBe(0);
    for (const d of [a, b]) {
      const r = await run(MINC, ['-r', d, 'ps']);
      expect(r.exitCode, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/\bps$/m);
    }
  });

  it('keeps mode, owner, symlinks and xattrs; --add brings in what the command did not use', async () => {
    const f = join(rootfs.dir, 'etc/owned');
    writeFileSync(f, 'mine\n');
    chmodSync(f, 0o640);
    expect((await run('chown', ['1000:50', f])).exitCode).toBe(0);
    expect((await run('setfattr', ['-n', 'user.polecat', '-v', 'kept', f])).exitCode).toBe(0);
    symlinkSync('owned', join(rootfs.dir, 'etc/owned-link'));
    const sfs = join(work, 'owned.sfs');
    const b = await polecat(['-f', 'sfs', '--add', '/etc/owned-link', '-o', sfs, rootfs.dir, 'ps']);
    expect(b.exitCode, b.stderr).toBe(0);
    const d = join(work, 'owned-root');
    expect((await run('unsquashfs', ['-no-progress', '-d', d, sfs])).exitCode).toBe(0);
    const st = statSync(join(d, 'etc/owned'));
    expect([st.uid, st.gid, st.mode & 0o7777]).toEqual([1000, 50, 0o640]);
    expect((await run('readlink', [join(d, 'etc/owned-link')])).stdout).toBe('owned');
    expect((await run('getfattr', ['--only-values', '-n', 'user.polecat', join(d, 'etc/owned')])).stdout).toBe('kept');
    expect(existsSync(join(d, 'bin/ls'))).toBe(false);
  });

  it('runs a build script (-s): install_command, COMMAND trapped, MKDIRS made, RMDIRS removed', async () => {
    const out = join(work, 'httpd.sh');
    const port = 20000 + (process.pid % 20000);
    const b = await polecat(['-s', `${ROOT}examples/polecat-busybox-httpd.sh`, '--trap-time', '1', '-o', out, rootfs.dir], { env: { ...env, HTTPD_PORT: String(port) } });
    expect(b.exitCode, b.stderr).toBe(0);
    const list = (await polecat(['--inspect', out])).stdout;
    expect(list).toMatch(/^command: "httpd" "-f" "-h" "\/www" "-p" "127\.0\.0\.1:\d+"$/m);
    expect(list).toMatch(/ \/www\/index\.html$/m);
    expect(list).toMatch(/ \/var\/log$/m);
    expect(list).not.toMatch(/drafts/);
    const p = execa(out, ['-p', `127.0.0.1:${port + 1}`], { reject: false });
    let body = '';
    await waitFor(() => processesWithArg(`127.0.0.1:${port + 1}`).length > 0, 'httpd');
    for (let i = 0; i < 50 && !body; i++) {
      body = await new Promise<string>((res) => {
        const req = request({ host: '127.0.0.1', port: port + 1, path: '/' }, (rs) => {
          let d = '';
          rs.on('data', (c: Buffer) => (d += c.toString()));
          rs.on('end', () => res(d));
        });
        req.on('error', () => setTimeout(() => res(''), 100));
        req.end();
      });
    }
    p.kill('SIGTERM');
    expect((await p).exitCode).toBe(143);
    expect(body).toContain('hello from a polecat bundle');
    expect(leftovers()).toEqual([]);
  });

  it('a SIGTERM during a build ends its minc runs and leaves no output, work dir or process', async () => {
    const out = join(work, 'stopped.sh');
    const port = 30000 + (process.pid % 20000);
    const b = execa(POLECAT, ['-s', `${ROOT}examples/polecat-busybox-httpd.sh`, '--trap-time', '60', '-o', out, rootfs.dir],
      { reject: false, env: { ...env, HTTPD_PORT: String(port) } });
    const cmd = ['httpd', '-f', '-h', '/www', '-p', `127.0.0.1:${port}`];
    await waitFor(() => running(...cmd).length > 0, 'the traced httpd', 30_000);
    b.kill('SIGTERM');
    expect((await b).exitCode).toBe(143);
    await waitFor(() => running(...cmd).length === 0, 'httpd to end');
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(work).filter((n) => n.startsWith('stopped'))).toEqual([]);
    expect(leftovers()).toEqual([]);
  });

  it('traps a host command: the python3 bundle prints 42 in a minc whose root lacks python3, and is small', async () => {
    const py = join(work, 'py.sh');
    const r = await run(MINC, ['--usedev', '--hide', '/usr/bin/python3.11', '--hide', '/usr/lib/python3.11', '-b', work, 'sh', '-c',
      `export PATH=/usr/sbin:/usr/bin:/sbin:/bin; python3 -c 1 2>/dev/null && echo has-python || echo no-python; ${py}`]);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('no-python\n42');
    expect(statSync(py).size).toBeLessThan(40 << 20);
    const info = (await polecat(['--inspect', py])).stdout;
    expect(info).toMatch(/^source: rootdir \/$/m);
    expect(info).toMatch(/ \/usr\/lib\/x86_64-linux-gnu\/libc\.so\.6$/m); // a NEEDED library, by ld.so --list
    expect(info).toMatch(/ \/usr\/lib\/python3\.11\/os\.py$/m); // opened, by strace
  });

  it('--inspect shows the command, size, date, source and files', async () => {
    const r = await polecat(['--inspect', join(work, 'ps.sh')]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^format: sh$/m);
    expect(r.stdout).toMatch(new RegExp(`^size: ${statSync(join(work, 'ps.sh')).size} bytes$`, 'm'));
    expect(r.stdout).toMatch(/^command: "ps"$/m);
    expect(r.stdout).toMatch(/^date: \d{4}-\d\d-\d\dT/m);
    expect(r.stdout).toContain(`source: rootdir ${rootfs.dir}`);
    expect(r.stdout).toMatch(/ \/bin\/ps -> busybox$/m);
    const bad = await polecat(['--inspect', '/etc/hostname']);
    expect(bad.exitCode).not.toBe(0);
    expect(bad.stderr).toMatch(/^polecat: \/etc\/hostname: not a polecat bundle/);
  });

  it('builds byte-identical bundles from the same root and command (SOURCE_DATE_EPOCH sets the date)', async () => {
    for (const f of ['sh', 'tgz', 'sfs']) {
      const e = { ...env, SOURCE_DATE_EPOCH: '1700000000' };
      const x = join(work, `r1.${f}`);
      const y = join(work, `r2.${f}`);
      expect((await polecat(['-f', f, '-o', x, rootfs.dir, 'ps'], { env: e })).exitCode).toBe(0);
      expect((await polecat(['-f', f, '-o', y, rootfs.dir, 'ps'], { env: e })).exitCode).toBe(0);
      expect(readFileSync(x).equals(readFileSync(y)), f).toBe(true);
    }
    expect((await polecat(['--inspect', join(work, 'r1.tgz')])).stdout).toMatch(/^date: 2023-11-14T22:13:20\.000Z$/m);
    const again = join(work, 'ps-again.sh');
    expect((await polecat(['-o', again, rootfs.dir, 'ps'])).exitCode).toBe(0);
    expect(readFileSync(again).equals(readFileSync(join(work, 'ps.sh')))).toBe(true);
  });

  describe('bad input: one polecat: line, a non-zero status, no output, no temp dir', () => {
    let store: TestStore;
    beforeAll(() => {
      store = makeStore();
    });
    afterAll(() => store.remove());
    const cases: [string, () => string[], RegExp][] = [
      ['a missing rootdir', () => ['/nonexistent/rootfs', 'ps'], /no such directory/],
      ['an unknown image', () => ['no-such-image-here', 'ps'], /no such directory or image/],
      ['a command not in the root', () => [rootfs.dir, 'python3'], /python3: command not found in the root/],
      ['an unknown format', () => ['-f', 'zip', rootfs.dir, 'ps'], /zip: unknown format/],
      ['an output that is a directory', () => ['-o', work, rootfs.dir, 'ps'], /is a directory/],
    ];
    for (const [what, args, says] of cases) {
      it(what, async () => {
        const before = readdirSync(work).sort();
        const out = join(work, 'bad-out.sh');
        const a = args();
        const r = await polecat(a[0] === '-o' ? a : ['-o', out, ...a], { env: { ...env, MINCS_DIR: store.dir } });
        expect(r.exitCode).not.toBe(0);
        expect(r.stderr).toMatch(says);
        expect(r.stderr.split('\n')).toHaveLength(1);
        expect(r.stderr).toMatch(/^polecat: /);
        expect(existsSync(out)).toBe(false);
        expect(readdirSync(work).sort()).toEqual(before);
        expect(leftovers()).toEqual([]);
      });
    }
  });

  it('bundles a marten image (IMAGE for ROOTDIR): one command of it, or the whole image', async () => {
    const store = makeStore();
    try {
      const imp = await store.marten(['import', rootfs.dir, '--name', 'pc-busybox']);
      expect(imp.exitCode, imp.stderr).toBe(0);
      const senv = { ...env, MINCS_DIR: store.dir };
      const one = join(work, 'img-ps.sh');
      const all = join(work, 'img-all.sh');
      expect((await polecat(['-o', one, 'pc-busybox', 'ps'], { env: senv })).exitCode).toBe(0);
      expect((await polecat(['-o', all, 'pc-busybox'], { env: senv })).exitCode).toBe(0);
      expect((await run(one, [])).stdout).toMatch(/^\s*1\s.*\bps$/m);
      expect((await run(all, ['ls', '/bin/cat'])).stdout).toBe('/bin/cat');
      expect((await polecat(['--inspect', one])).stdout).toContain(`source: image ${imp.stdout.trim()}`);
      expect(leftovers()).toEqual([]);
      expect(await traces()).toEqual([]);
    } finally {
      store.remove();
    }
  });

  it('marten refuses a hostile bundle: .polecat.json a link out, or a command of another shape; the store stays as it was', async () => {
    const store = makeStore();
    try {
      expect((await store.marten(['import', rootfs.dir])).exitCode).toBe(0); // a store with something in it
      const before = store.snapshot();
      const cases: [string, (d: string) => void, RegExp][] = [
        ['link', (d) => symlinkSync('/etc/shadow', join(d, '.polecat.json')), /\.polecat\.json is a symbolic link/],
        ['shape', (d) => writeFileSync(join(d, '.polecat.json'), '{"command":"rm -rf /"}'), /command: expected an array of strings/],
      ];
      for (const [name, make, says] of cases) {
        const d = mkdtempSync(join(work, `hostile-${name}-`));
        mkdirSync(join(d, 'bin'));
        make(d);
        const f = join(work, `hostile-${name}.tgz`);
        expect((await run('tar', ['-C', d, '-czf', f, '.'])).exitCode).toBe(0);
        const r = await store.marten(['import', f]);
        expect(r.exitCode).not.toBe(0);
        expect(r.stderr).toMatch(says);
        expect(r.stderr.trim().split('\n')).toHaveLength(1);
        expect(store.snapshot()).toEqual(before);
      }
    } finally {
      store.remove();
    }
  });

  it('marten imports tgz and squashfs bundles as images that minc -r runs with their command', async () => {
    const store = makeStore();
    try {
      for (const f of ['ps.tgz', 'ps.sfs']) {
        const file = join(work, f);
        if (!existsSync(file)) expect((await polecat(['-f', f.slice(3), '-o', file, rootfs.dir, 'ps'])).exitCode).toBe(0);
        const imp = await store.marten(['import', file, '--name', `pc-${f.slice(3)}`]);
        expect(imp.exitCode, imp.stderr).toBe(0);
        const r = await store.minc(['-r', `pc-${f.slice(3)}`]);
        expect(r.exitCode, r.stderr).toBe(0);
        expect(r.stdout).toMatch(/\bps$/m);
      }
    } finally {
      store.remove();
    }
  });
});
