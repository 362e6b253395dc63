/**
 * Failure and isolation: a step that fails midway (injected with strace)
 * ends the run naming the step and leaves nothing; bad input is one line and
 * creates nothing; nothing written or mounted inside reaches the host.
 */
import { execa } from 'execa';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  expectNothingLeft, ourTempdirs, privateBase, processesWithArg, runEntriesButMinc, runMinc, spawnTracked, tempdirsOf, unique, waitFor,
} from '../helpers/e2e.js';
import { MINC, mincMounts } from '../helpers/minc.js';
import { makeBusyboxRootfs } from '../helpers/rootfs.js';

let rootfs: { dir: string; remove: () => void };
let scratch: string;
let emptyCwd: string;

beforeAll(() => {
  rootfs = makeBusyboxRootfs();
  scratch = mkdtempSync('/tmp/minc-e2e-cleanup-');
  emptyCwd = mkdtempSync(join(scratch, 'cwd-'));
});

afterAll(() => {
  rootfs.remove();
  rmSync(scratch, { recursive: true, force: true });
  expectNothingLeft();
});

/** Every file below dir with its size and mode (to see that a rootfs was not changed). */
function tree(dir: string, prefix = ''): string[] {
  const out: string[] = [];
  for (const name of readdirSync(join(dir, prefix)).sort()) {
    const rel = join(prefix, name);
    const st = statSync(join(dir, rel), { throwIfNoEntry: false });
    out.push(`${rel} ${st ? `${st.mode.toString(8)} ${st.isDirectory() ? '' : st.size}` : 'dangling'}`);
    if (st?.isDirectory() && !(st.isSymbolicLink?.())) out.push(...tree(dir, rel));
  }
  return out;
}

/** The reasons of the plan's steps, as --dry-run shows them. */
async function stepReasons(args: string[]): Promise<string[]> {
  const r = await runMinc(['--dry-run', ...args]);
  expect(r.exitCode).toBe(0);
  return [...r.stdout.matchAll(/^:;: (.*) ;:$/gm)].map((m) => m[1]!);
}

describe('a step that fails midway (failure injected with strace)', () => {
  const bindSrc = () => mkdtempSync(join(scratch, 'src-'));
  // The steps run before pivot_root on paths below the temp dir, whose name is not known in advance:
  // a mount is picked by its source (strace -P matches any path argument, `proc` and `devpts` too),
  // or by its order within one process (strace counts per process; each step is a process of its own).
  // The sources and reasons are those `minc --dry-run` shows.
  const CASES: [string, (src: string, src2: string) => string[], (src: string, src2: string) => string[], RegExp][] = [
    ['the fresh /proc mount', () => ['-P', 'proc', '-e', 'trace=mount', '-e', 'inject=mount:error=EPERM'], () => [], /procfs/],
    ['the devpts mount', () => ['-P', 'devpts', '-e', 'trace=mount', '-e', 'inject=mount:error=EPERM'], () => [], /devpts/],
    // (a step of the /dev lane, which runs beside the /proc and /etc steps: still one line, naming it)
    ['the first mknod (the device nodes, in the /dev lane)', () => ['-e', 'trace=mknodat,mknod', '-e', 'inject=mknodat:error=EPERM'], () => [], /own null/],
    ['the mkfifo of the start fifos (a command that drops root)', () => ['-e', 'trace=mknodat,mknod', '-e', 'inject=mknodat:error=EPERM'],
      () => ['--usedev', '--user', '1000'], /fifos/],
    ['pivot_root', () => ['-e', 'trace=pivot_root', '-e', 'inject=pivot_root:error=EINVAL'], () => [], /pivot_root/],
    ['the second mount call of a mount process (a read-only remount)', () => ['-e', 'trace=mount', '-e', 'inject=mount:error=EPERM:when=2'],
      (src) => ['-b', `${src}:/robind:ro`], /read-only/],
    ['the last user bind', (_src, src2) => ['-P', src2, '-e', 'trace=mount', '-e', 'inject=mount:error=EPERM'],
      (src, src2) => ['-b', `${src}:/first-bind`, '-b', `${src2}:/last-bind`], /\/last-bind/],
  ];

  for (const [what, straceArgs, extra, stepRe] of CASES) {
    it(`${what}: non-zero status, a minc: line naming the step, nothing left behind`, async () => {
      const base = privateBase();
      const key = `never-${unique()}`;
      const src = bindSrc();
      const src2 = bindSrc();
      const args = ['-r', rootfs.dir, ...extra(src, src2), 'echo', key];
      try {
        const reasons = await stepReasons(args);
        // (cwd: an empty directory, so that -P proc names nothing but the word proc)
        const r = await execa('strace', ['-f', '-o', '/dev/null', ...straceArgs(src, src2), MINC, ...args],
          { reject: false, stdin: 'ignore', timeout: 60_000, env: base.env, cwd: emptyCwd });
        expect(r.stdout).not.toContain(key);
        expect(r.exitCode).not.toBe(0);
        const lines = r.stderr.split('\n').filter((l) => l.startsWith('minc: '));
        expect(lines, r.stderr).toHaveLength(1);
        const named = reasons.filter((why) => lines[0]!.startsWith(`minc: ${why}`));
        expect(named, lines[0]).toHaveLength(1);
        expect(named[0]).toMatch(stepRe);
        // nothing left: no temp dir, no mount, no process of the container
        expect(base.entries()).toEqual([]);
        expect(mincMounts()).toEqual([]);
        await waitFor(() => processesWithArg(key).length === 0, 'the container processes to end', 3_000);
        expect(readdirSync(src)).toEqual([]);
        expect(readdirSync(src2)).toEqual([]);
      } finally {
        base.remove();
      }
    });
  }

  it('a host-side step that fails (making the temp dir) names the step and leaves nothing', async () => {
    const base = privateBase();
    const sub = join(base.dir, 'sub');
    try {
      const r = await execa('strace', ['-f', '-o', '/dev/null', '-e', 'trace=mkdir', '-e', 'inject=mkdir:error=EACCES', MINC, '-r', rootfs.dir, 'true'],
        { reject: false, stdin: 'ignore', timeout: 60_000, env: { ...base.env, XDG_RUNTIME_DIR: sub } });
      expect(r.exitCode).not.toBe(0);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(/^minc: .*temporary directory/i);
      expect(base.entries()).toEqual([]);
    } finally {
      base.remove();
    }
  });
});

  it('a plan that fails after the launcher started (it starts first: a tool the plan needs is missing) says why in one line, and the launcher ends with nothing left', async () => {
    const base = privateBase();
    try {
      // pivot_root hidden in a mount namespace of the test's own: minc looks it up only when it builds the plan
      const r = await execa('unshare', ['-m', 'sh', '-c', 'mount --bind /dev/null /usr/sbin/pivot_root && exec "$0" -r "$1" true', MINC, rootfs.dir],
        { reject: false, stdin: 'ignore', timeout: 60_000, env: base.env });
      expect(r.stderr).toBe('minc: pivot_root not found on this host (minc --doctor says what to install)');
      expect(r.exitCode).not.toBe(0);
      expect(base.entries()).toEqual([]);
      // (the launcher's stage has the temp dir in its environment, in the text that sources the plan)
      const withDir = readdirSync('/proc').filter((n) => /^\d+$/.test(n)).filter((n) => {
        try {
          return readFileSync(`/proc/${n}/environ`, 'latin1').includes(`${base.dir}/`);
        } catch {
          return false;
        }
      });
      expect(withDir).toEqual([]);
    } finally {
      base.remove();
    }
  });

describe('bad input: one line on stderr, non-zero status, nothing created', () => {
  const missing = `/nonexistent-${unique()}`;
  const CASES: [string, string[]][] = [
    ['an unknown option', ['--no-such-option', 'true']],
    ['an unknown short option', ['-Z', 'true']],
    ['an option missing its value', ['true', '-r'].reverse()],
    ['a missing rootdir', ['-r', missing, 'true']],
    ['a rootdir that is a file', ['-r', '/etc/passwd', 'true']],
    ['a missing bind source', ['-b', `${missing}:/x`, 'true']],
    ['a relative bind target', ['-b', '/etc:relative/target', 'true']],
    ['a bind target with ..', ['-b', '/etc:/a/../../b', 'true']],
    ['an unknown user name', ['--user', `nosuchuser${process.pid}`, 'true']],
    ['an unknown group name', ['--user', `0:nosuchgroup${process.pid}`, 'true']],
    ['-t naming a file', ['-t', '/etc/passwd', 'true']],
    ['-t naming a dir whose parent is missing', ['-t', `${missing}/sub`, 'true']],
    ['an unknown capability', ['--nocaps', 'cap_no_such_thing', 'true']],
    ['a bad --name', ['--name', 'bad name/with slash', 'true']],
    ['a bad --preserve-fds', ['--preserve-fds', 'lots', 'true']],
  ];

  for (const [what, args] of CASES) {
    it(what, async () => {
      const before = runEntriesButMinc();
      const p = spawnTracked(MINC, [...args]);
      const r = await p;
      expect(r.exitCode).not.toBe(0);
      expect(r.stdout).toBe('');
      expect(r.stderr.split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(/^minc: \S/);
      expect(tempdirsOf(p.pid)).toEqual([]);
      expect(runEntriesButMinc()).toEqual(before);
      expect(existsSync(missing)).toBe(false);
    });
  }

  it('not root (setpriv --reuid=65534 --regid=65534 --clear-groups)', async () => {
    const before = runEntriesButMinc();
    const p = spawnTracked('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', MINC, '-r', rootfs.dir, 'true']);
    const r = await p;
    expect(r.exitCode).not.toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr.split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^minc: .*root/);
    expect(tempdirsOf(p.pid)).toEqual([]);
    expect(runEntriesButMinc()).toEqual(before);
  });

  it('the message names what is wrong', async () => {
    const r = await runMinc(['-b', '/etc:relative/x', 'true']);
    expect(r.stderr).toContain('relative/x');
    const u = await runMinc(['-r', rootfs.dir, '--user', 'nobody-here', 'true']);
    expect(u.stderr).toContain('nobody-here');
    const o = await runMinc(['--frobnicate', 'true']);
    expect(o.stderr).toContain('--frobnicate');
  });
});

describe('nothing written or mounted inside reaches the host', () => {
  it("files, dirs, a tmpfs mount, a shared-propagation mount and the hostname stay inside (default root)", async () => {
    const key = unique('leak');
    const hostname = (await execa('hostname')).stdout;
    const mountinfo = readFileSync('/proc/self/mountinfo', 'utf8');
    const before = ourTempdirs();
    const script = [
      `echo x > /${key}`, `mkdir /etc/${key}`, `echo y > /run/${key}`,
      `mkdir -p /mnt/${key} && mount -t tmpfs none /mnt/${key} && touch /mnt/${key}/f`,
      `mount --make-rshared / && mkdir -p /srv/${key} && mount -t tmpfs none /srv/${key}`,
      `hostname evil-${key}`, 'hostname', `ls /${key} /etc/${key} /run/${key} /mnt/${key}/f`,
    ].join(' && ');
    const r = await runMinc(['sh', '-c', script]);
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    expect(r.stdout.split('\n')[0]).toBe(`evil-${key}`);
    for (const p of [`/${key}`, `/etc/${key}`, `/run/${key}`, `/mnt/${key}`, `/srv/${key}`]) expect(existsSync(p), p).toBe(false);
    expect((await execa('hostname')).stdout).toBe(hostname);
    expect(readFileSync('/proc/self/mountinfo', 'utf8')).toBe(mountinfo);
    expect(ourTempdirs()).toEqual(before);
  });

  it('a busybox rootfs is unchanged after a run that writes, deletes and mounts', async () => {
    const before = tree(rootfs.dir);
    const r = await runMinc(['-r', rootfs.dir, 'sh', '-c',
      'echo x > /new; rm /bin/wc; chmod 700 /etc; echo z >> /etc/passwd; mkdir -p /mnt; mount -t tmpfs none /mnt; touch /mnt/f; ln -s /x /etc/l; echo ok']);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe('ok');
    expect(tree(rootfs.dir)).toEqual(before);
  });

  it('IPC objects made inside are not the host\'s', async () => {
    const key = unique('shm');
    const r = await runMinc(['sh', '-c', `echo data > /dev/shm/${key} && ls /dev/shm/${key} && grep ' /dev/shm ' /proc/mounts`]);
    expect(r.exitCode).toBe(0);
    expect(existsSync(`/dev/shm/${key}`)).toBe(false);
  });

  it('a failed run leaves the host as before too', async () => {
    const mountinfo = readFileSync('/proc/self/mountinfo', 'utf8');
    const p = spawnTracked(MINC, ['-r', rootfs.dir, 'sh', '-c', 'mount -t tmpfs none /tmp; exit 1']);
    const r = await p;
    expect(r.exitCode).toBe(1);
    expect(readFileSync('/proc/self/mountinfo', 'utf8')).toBe(mountinfo);
    expect(tempdirsOf(p.pid)).toEqual([]);
  });
});


describe("a reader that goes away (minc's output into `| head`)", () => {
  it('--debug into a pipe closed early: minc still cleans up and leaves nothing', async () => {
    const base = privateBase();
    try {
      const script = `"$MINC" --debug sh -c 'sleep 0.3; exit 3' 2>&1 | head -1; echo "status \${PIPESTATUS[0]}"`;
      const r = await execa('bash', ['-c', script], { reject: false, stdin: 'ignore', env: { ...base.env, MINC } });
      const [first, status] = r.stdout.split('\n');
      expect(first).toContain(':;: Make the temporary directory ;:');
      // the command's status, or 141 if the stage's own --debug lines met the closed pipe first (SIGPIPE, as any writer gets)
      expect(['status 3', 'status 141']).toContain(status);
      expect(base.entries()).toEqual([]);
    } finally {
      base.remove();
    }
  });

  it('--dry-run into `head -1`: no stack trace, status 0', async () => {
    const r = await execa('bash', ['-c', `"$MINC" --dry-run true | head -1; echo "status \${PIPESTATUS[0]}"`], { reject: false, env: { ...process.env, MINC } });
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('# minc plan (dry run): nothing is created or mounted\nstatus 0');
  });
});
