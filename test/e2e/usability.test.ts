/**
 * What a new user trips over first (issue 10): the default shell of a rootfs,
 * --user's environment, a kept dir's root, --doctor's checks, the dry-run
 * format the README promises, --pid-max, --version and --help.
 */
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectNothingLeft, privateBase, runMinc, waitFor } from '../helpers/e2e.js';
import { execa } from 'execa';
import { ROOT } from '../helpers/minc.js';
import { MARTEN } from '../helpers/marten.js';
import { makeBusyboxRootfs } from '../helpers/rootfs.js';
import { TestNetns } from '../helpers/netns.js';

let rootfs: { dir: string; remove: () => void };
let scratch: string;

beforeAll(() => {
  rootfs = makeBusyboxRootfs();
  appendFileSync(join(rootfs.dir, 'etc/passwd'), 'nobody:x:65534:65534:nobody:/nonexistent:/bin/sh\n');
  scratch = mkdtempSync('/tmp/minc-e2e-usability-');
});

afterAll(() => {
  rootfs.remove();
  rmSync(scratch, { recursive: true, force: true });
  expectNothingLeft();
});

describe('the default command', () => {
  it("is $SHELL when the root has it, else /bin/sh (a busybox rootfs has no /bin/bash)", async () => {
    const r = await runMinc(['-r', rootfs.dir], { stdin: 'pipe', input: 'echo "shell=$0"\n', env: { ...process.env, SHELL: '/bin/bash' } });
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('shell=/bin/sh');
    expect(r.exitCode).toBe(0);
    const host = await runMinc([], { stdin: 'pipe', input: 'echo "shell=$0"\n', env: { ...process.env, SHELL: '/bin/bash' } });
    expect(host.stdout).toBe('shell=/bin/bash');
  });
});

describe('--user', () => {
  it("sets HOME, USER and LOGNAME from the container's passwd", async () => {
    const r = await runMinc(['-r', rootfs.dir, '--user', 'nobody', 'sh', '-c', 'echo "$HOME $USER $LOGNAME $(id -u)"'], { env: { ...process.env, HOME: '/root', USER: 'root' } });
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('/nonexistent nobody nobody 65534');
    const byId = await runMinc(['-r', rootfs.dir, '--user', '1000', 'sh', '-c', 'echo "$HOME $USER"']);
    expect(byId.stdout).toBe('/tmp user');
    const unnamed = await runMinc(['-r', rootfs.dir, '--user', '4242', 'sh', '-c', 'echo "$HOME ${USER-unset}"'], { env: { ...process.env, USER: 'root' } });
    expect(unnamed.stdout).toBe('/ root');
  });
});

describe('-t DIR -r OTHER', () => {
  it("is an error naming the root DIR was made with, and leaves DIR's settings alone", async () => {
    const dir = join(scratch, 'kept');
    expect((await runMinc(['-t', dir, '-r', rootfs.dir, 'true'])).exitCode).toBe(0);
    const before = readFileSync(join(dir, 'settings'), 'utf8');
    const r = await runMinc(['-t', dir, '-r', '/tmp', 'true']);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toBe(`minc: --tempdir '${dir}' was made with root directory '${rootfs.dir}', not '/tmp': leave out -r, or give a new -t dir`);
    expect(readFileSync(join(dir, 'settings'), 'utf8')).toBe(before);
    // the same root again, or none, is fine, and runs over the rootfs
    const again = await runMinc(['-t', dir, 'cat', '/etc/passwd']);
    expect(again.stdout).toContain('user:x:1000');
    expect((await runMinc(['-t', dir, '-r', rootfs.dir, 'true'])).exitCode).toBe(0);
  });
});

describe('--doctor', () => {
  it('checks gzip and cp', async () => {
    const r = await runMinc(['--doctor']);
    expect(r.stdout).toMatch(/^ok +cp: /m);
    expect(r.stdout).toMatch(/^ok +gzip: /m);
  });
});

describe('--dry-run', () => {
  it('prints the lines the README describes: `:;: WHY ;:` then `+ ARGV`', async () => {
    const r = await runMinc(['--dry-run', '-r', rootfs.dir, 'true']);
    expect(r.exitCode).toBe(0);
    const lines = r.stdout.split('\n').filter(Boolean);
    for (const l of lines) expect(l).toMatch(/^(:;: .* ;:|\+ .+|# .*)$/);
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    expect(readme).toContain('`:;: WHY ;:` then `+ ARGV...`');
  });
});

describe('--version and --help', () => {
  const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

  it('minc --version and marten --version print the package version', async () => {
    const m = await runMinc(['--version']);
    expect(m.stdout).toBe(`minc ${version}`);
    expect(m.exitCode).toBe(0);
    const t = await execa(MARTEN, ['--version'], { reject: false });
    expect(t.stdout).toBe(`marten ${version}`);
    expect(t.exitCode).toBe(0);
  });

  it("minc --help: each option's argument name beside it, the texts in one column, and examples", async () => {
    const r = await runMinc(['--help'], { env: { ...process.env, COLUMNS: '100' } });
    expect(r.exitCode).toBe(0);
    const lines = r.stdout.split('\n');
    const opts = lines.slice(lines.indexOf('Options:') + 1, lines.indexOf('Examples:') - 1);
    const tempdir = opts.find((l) => l.includes('--tempdir'))!;
    expect(tempdir).toMatch(/^ {2}-t, --tempdir DIR +Use \(or reuse\)/);
    const col = tempdir.indexOf('Use');
    // every option's text starts in that column, and wrapped lines too
    for (const l of opts) expect(l.length > col && l[col - 1] === ' ' && l[col] !== ' ', l).toBe(true);
    expect(opts.find((l) => l.includes('--port'))).toMatch(/--port HOSTPORT\[:PORT\[:udp\]\] +Publish/);
    expect(r.stdout).toMatch(/^Examples:\n {2}minc /m);
  });

  it('marten help CMD and marten CMD --help show the command and its options', async () => {
    const a = await execa(MARTEN, ['help', 'pull'], { reject: false });
    const b = await execa(MARTEN, ['pull', '--help'], { reject: false });
    expect(a.exitCode).toBe(0);
    expect(a.stdout).toMatch(/^marten pull <ref>/);
    expect(a.stdout).toContain('--max-layer-size');
    expect(b.stdout).toBe(a.stdout);
    const all = await execa(MARTEN, ['help'], { reject: false });
    expect(all.stdout).toContain('Examples:');
    expect(all.stdout).toContain('marten rmi');
  });
});

describe('stopping runs by ID or NAME, and their logs', () => {
  it('minc --stop and marten stop take the ID or NAME marten lc shows; marten logs shows a background run\'s output', async () => {
    const base = privateBase();
    try {
      const bg = (name: string) => runMinc(['-B', '--name', name, '-r', rootfs.dir, 'sh', '-c', 'echo started; echo oops >&2; exec sleep 60'], { env: base.env });
      const a = await bg('bga');
      expect(a.exitCode, a.stderr).toBe(0);
      const b = await bg('bgb');
      const marten = (args: string[]) => execa(MARTEN, args, { reject: false, env: base.env });
      const lc = (await marten(['lc'])).stdout;
      const idA = basename(a.stdout.trim());
      expect(lc).toMatch(new RegExp(`^${idA} .* bga$`, 'm'));
      await waitFor(() => readFileSync(join(a.stdout.trim(), 'log'), 'utf8') !== '', 'the log');
      const logs = await marten(['logs', 'bga']);
      expect(logs.exitCode, logs.stderr).toBe(0);
      expect(logs.stdout).toBe('started');
      expect(logs.stderr).toContain('oops');
      expect((await marten(['logs', idA])).stdout).toBe('started');
      // by ID, then by NAME
      const s1 = await runMinc(['--stop', idA], { env: base.env });
      expect(s1.exitCode, s1.stderr).toBe(0);
      expect(existsSync(a.stdout.trim())).toBe(false);
      const s2 = await marten(['stop', 'bgb']);
      expect(s2.exitCode, s2.stderr).toBe(0);
      expect(existsSync(b.stdout.trim())).toBe(false);
      const none = await runMinc(['--stop', 'bgb'], { env: base.env });
      expect(none.exitCode).toBe(2);
      expect(none.stderr.trim().split('\n')).toHaveLength(1);
      expect(none.stderr).toMatch(/^minc: --stop 'bgb': no such run/);
      expect(base.entries()).toEqual([]);
    } finally {
      base.remove();
    }
  });
});

describe('--pid-max', () => {
  it("counts only the command's processes: minc's own set-up and init do not use them up", async () => {
    const hi = await runMinc(['--pid-max', '6', 'sh', '-c', 'echo hi']);
    expect(hi.stderr).toBe('');
    expect(hi.stdout).toBe('hi');
    expect(hi.exitCode).toBe(0);
    const forks = 'sleep 1 & sleep 1 & sleep 1 & wait; echo done';
    for (const extra of [[], ['--as-pid-1'], ['--user', '1000']]) {
      // the shell and its three children: four processes, exactly
      const four = await runMinc([...extra, '--pid-max', '4', '-r', rootfs.dir, 'sh', '-c', forks]);
      expect(four.stderr, extra.join(' ')).toBe('');
      expect(four.stdout).toBe('done');
      const three = await runMinc([...extra, '--pid-max', '3', '-r', rootfs.dir, 'sh', '-c', forks]);
      expect(three.stderr, extra.join(' ')).toMatch(/can't fork/);
      expect(three.stdout).toBe('');
    }
  });
});

describe('-p on 127.0.0.1', () => {
  it('a published port answers on the loopback address too, and stops when minc ends', async () => {
    const ns = TestNetns.create();
    try {
      ns.sh('ip link set lo up');
      mkdirSync(join(rootfs.dir, 'www'), { recursive: true });
      writeFileSync(join(rootfs.dir, 'www/index.html'), 'hello on loopback\n');
      const p = ns.minc(['-r', rootfs.dir, '-p', '18080:8080', 'httpd', '-f', '-p', '8080', '-h', '/www']);
      const get = (): string => {
        try {
          return ns.sh('busybox timeout 2 busybox wget -q -O - http://127.0.0.1:18080/ 2>/dev/null');
        } catch {
          return '';
        }
      };
      try {
        await waitFor(() => get() !== '', 'the server to answer on 127.0.0.1:18080', 15_000, 100);
        expect(get()).toBe('hello on loopback\n');
      } finally {
        p.kill('SIGTERM');
      }
      expect((await p).exitCode).toBe(143);
      expect(get()).toBe('');
      expect(ns.mincRules().filter((l) => /DNAT/.test(l))).toEqual([]);
    } finally {
      ns.remove();
    }
  });
});
