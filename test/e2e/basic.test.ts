/**
 * A run end to end with no tty: pipes and files on stdin/stdout/stderr,
 * minc's exit status, the default command, options after the command, and
 * where the temp dir goes.
 */
import { execa } from 'execa';
import { chmodSync, existsSync, lstatSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectNothingLeft, privateBase, removeKept, reuseDir, runMinc, startMinc, unique, waitFor } from '../helpers/e2e.js';
import { MINC, tempBase } from '../helpers/minc.js';
import { makeBusyboxRootfs } from '../helpers/rootfs.js';

let rootfs: { dir: string; remove: () => void };
let scratch: string;

beforeAll(() => {
  rootfs = makeBusyboxRootfs();
  scratch = mkdtempSync('/tmp/minc-e2e-basic-');
});

afterAll(() => {
  rootfs.remove();
  rmSync(scratch, { recursive: true, force: true });
  expectNothingLeft();
});

/** Run a bash pipeline in which $MINC is bin/minc (bash execs nothing: minc's pid is tracked by its temp dir name only). */
async function bash(script: string, opts: { input?: string } = {}) {
  const p = execa('bash', ['-c', script], {
    reject: false,
    timeout: 60_000,
    env: { ...process.env, MINC },
    ...(opts.input !== undefined ? { input: opts.input } : { stdin: 'ignore' as const }),
  });
  return p;
}

describe('pipes and files (MINCS exits 1 with no output when stdout is a pipe)', () => {
  it('echo hi | minc cat', async () => {
    const r = await bash('echo hi | "$MINC" cat');
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe('hi');
  });

  it('stdin from a pipe with more data than a pipe buffer reaches the command intact', async () => {
    const r = await bash('seq 1 20000 | "$MINC" -r "$R" wc -l'.replace('$R', rootfs.dir));
    expect(r.exitCode).toBe(0);
    expect(r.stdout.trim()).toBe('20000');
  });

  it('x=$(minc hostname) captures the hostname', async () => {
    const r = await bash('x=$("$MINC" hostname); echo "got:$x"');
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe(`got:${(await execa('hostname')).stdout}`);
  });

  it('x=$(minc --name NAME hostname) captures the container name', async () => {
    const name = unique('n');
    const r = await bash(`x=$("$MINC" --name ${name} hostname); echo "got:$x"`);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe(`got:${name}`);
  });

  it('minc cmd > file, 2> file, < file', async () => {
    const inFile = join(scratch, 'in.txt');
    const outFile = join(scratch, 'out.txt');
    const errFile = join(scratch, 'err.txt');
    writeFileSync(inFile, 'from-a-file\n');
    const r = await bash(`"$MINC" -r ${rootfs.dir} sh -c 'cat; echo to-stdout; echo to-stderr >&2' < ${inFile} > ${outFile} 2> ${errFile}`);
    expect(r.exitCode).toBe(0);
    expect(readFileSync(outFile, 'utf8')).toBe('from-a-file\nto-stdout\n');
    expect(readFileSync(errFile, 'utf8')).toBe('to-stderr\n');
  });

  it('stdout and stderr both pipes, a pipe on stdin, status passed through a pipeline', async () => {
    const r = await bash(`printf 'a\\nb\\n' | "$MINC" -r ${rootfs.dir} sh -c 'cat; echo err >&2; exit 3' | tr a-z A-Z; echo "st=\${PIPESTATUS[1]}"`);
    expect(r.stdout).toBe('A\nB\nst=3');
    expect(r.stderr).toBe('err');
  });
});

describe('exit status', () => {
  it("is the command's", async () => {
    for (const n of [0, 1, 7, 42]) {
      const r = await runMinc(['-r', rootfs.dir, 'sh', '-c', `exit ${n}`]);
      expect(r.exitCode).toBe(n);
    }
  });

  it("is the command's under node's --pending-deprecation too, with nothing on stderr (minc then spawns through node:child_process)", async () => {
    for (const env of [{ NODE_PENDING_DEPRECATION: '1' }, { NODE_OPTIONS: '--pending-deprecation' }]) {
      const r = await runMinc(['-r', rootfs.dir, 'sh', '-c', 'echo out; exit 5'], { env: { ...process.env, ...env } });
      expect(r.exitCode).toBe(5);
      expect(r.stdout).toBe('out');
      expect(r.stderr).toBe('');
    }
  });

  it('is the command\'s also when the command ends at once (no run may report 0 for exit 7)', async () => {
    const statuses: (number | undefined)[] = [];
    for (let batch = 0; batch < 6; batch++) {
      const rs = await Promise.all([0, 1, 2, 3].map(() => runMinc(['-r', rootfs.dir, 'sh', '-c', 'exit 7'])));
      statuses.push(...rs.map((r) => r.exitCode));
    }
    expect(statuses).toEqual(Array(24).fill(7));
  });

  it('is 128+N when the command is killed by signal N', async () => {
    for (const [sig, n] of [['KILL', 9], ['TERM', 15], ['USR1', 10], ['SEGV', 11]] as const) {
      const r = await runMinc(['-r', rootfs.dir, 'sh', '-c', `kill -${sig} $$`]);
      expect(r.exitCode, sig).toBe(128 + n);
    }
  });

  it('is 127 with a message naming the command when it is not found', async () => {
    const cmd = `no-such-command-${unique()}`;
    const r = await runMinc(['-r', rootfs.dir, cmd, 'arg']);
    expect(r.exitCode).toBe(127);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(cmd);
    expect(r.stderr).toMatch(/^minc: .*not found/m);
  });

  it('is 127 for a path that does not exist', async () => {
    const r = await runMinc(['-r', rootfs.dir, '/bin/no-such-file']);
    expect(r.exitCode).toBe(127);
    expect(r.stderr).toContain('/bin/no-such-file');
  });

  it('is 126 with a message naming the command when it is not executable', async () => {
    const name = `notexec-${unique()}`;
    writeFileSync(join(rootfs.dir, 'bin', name), '#!/bin/sh\necho ran\n');
    chmodSync(join(rootfs.dir, 'bin', name), 0o644);
    try {
      for (const cmd of [name, `/bin/${name}`]) {
        const r = await runMinc(['-r', rootfs.dir, cmd]);
        expect(r.exitCode, cmd).toBe(126);
        expect(r.stdout).toBe('');
        expect(r.stderr).toContain(cmd);
      }
      const dir = await runMinc(['-r', rootfs.dir, '/etc']);
      expect(dir.exitCode).toBe(126);
      expect(dir.stderr).toContain('/etc');
    } finally {
      rmSync(join(rootfs.dir, 'bin', name), { force: true });
    }
  });

  it('the command is looked up in the container root, not the host', async () => {
    // perl is on the host (Debian's perl-base) but not in the busybox rootfs
    expect(existsSync('/usr/bin/perl')).toBe(true);
    const r = await runMinc(['-r', rootfs.dir, 'perl', '-e', '1']);
    expect(r.exitCode).toBe(127);
    expect(r.stderr).toContain('perl');
  });
});

describe('the working directory', () => {
  it('minc started from a directory that was removed runs, with nothing on stderr (the command starts in /)', async () => {
    const gone = mkdtempSync(join(scratch, 'gone-'));
    const r = await execa('sh', ['-c', 'cd "$1" && rmdir "$1" && exec "$MINC" -r "$2" sh -c pwd', 'sh', gone, rootfs.dir], { reject: false, env: { ...process.env, MINC } });
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe('/');
    expect(r.stderr).toBe('');
  });
});

describe('the command line', () => {
  it('runs $SHELL when no command is given', async () => {
    writeFileSync(join(rootfs.dir, 'bin', 'mysh'), '#!/bin/sh\necho "my shell ran: $0"\n');
    chmodSync(join(rootfs.dir, 'bin', 'mysh'), 0o755);
    try {
      const r = await runMinc(['-r', rootfs.dir], { env: { ...process.env, SHELL: '/bin/mysh' } });
      expect(r.exitCode).toBe(0);
      expect(r.stdout).toBe('my shell ran: /bin/mysh');
    } finally {
      rmSync(join(rootfs.dir, 'bin', 'mysh'), { force: true });
    }
  });

  it('runs /bin/sh when no command is given and $SHELL is unset (reading a piped stdin)', async () => {
    const env = { ...process.env };
    delete env.SHELL;
    const r = await runMinc(['-r', rootfs.dir], { env, extendEnv: false, stdin: 'pipe', input: 'echo "sh says $((6*7))"; exit 4\n' });
    expect(r.exitCode).toBe(4);
    expect(r.stdout).toBe('sh says 42');
  });

  it('options after the command belong to the command', async () => {
    const r = await runMinc(['-r', rootfs.dir, 'echo', '--name', 'x', '-k', '--debug', '-h']);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe('--name x -k --debug -h');
    expect(r.stderr).toBe('');
  });

  it('-- ends the options', async () => {
    const r = await runMinc(['-r', rootfs.dir, '--', 'sh', '-c', 'echo "$0 $1"', '--keep', '--help']);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe('--keep --help');
    expect(r.stderr).toBe('');
  });

  it("the command gets the caller's LC_ALL, set, odd or unset (minc's own tools run in the C locale)", async () => {
    const show = ['sh', '-c', 'echo "[${LC_ALL-unset}]"'];
    for (const args of [['-r', rootfs.dir, ...show], ['-r', rootfs.dir, '--user', '1:1', ...show], show]) {
      for (const lc of ['de_DE.UTF-8', "it's $x", '']) {
        const r = await runMinc(args, { env: { ...process.env, LC_ALL: lc } });
        expect(r.stderr).toBe('');
        expect(r.stdout).toBe(`[${lc}]`);
      }
      const env = { ...process.env };
      delete env.LC_ALL;
      const r = await runMinc(args, { env, extendEnv: false });
      expect(r.stdout).toBe('[unset]');
    }
  });

  it('arguments with spaces, quotes and $ reach the command unchanged', async () => {
    const args = ['a b', "it's", '$HOME', '"q"', '*', ''];
    const r = await runMinc(['-r', rootfs.dir, 'sh', '-c', 'for a in "$@"; do echo "[$a]"; done', 'sh', ...args]);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe(args.map((a) => `[${a}]`).join('\n'));
  });
});

describe('the temp dir', () => {
  it('goes under $XDG_RUNTIME_DIR when set, holding root/ storage/ work/ resolv.conf hosts utsname pid settings', async () => {
    const base = privateBase();
    try {
      const r = await runMinc(['-k', '--name', 'xdg', 'true'], { env: base.env });
      expect(r.exitCode).toBe(0);
      const names = base.entries();
      expect(names).toHaveLength(1);
      expect(names[0]).toMatch(/^minc\d+-\w{6}$/);
      const dir = join(base.dir, names[0]!);
      expect(reuseDir(r.stderr)).toBe(dir);
      // (the fifos ready and go that start the command are made in it during the run: they are the run's, not part of what is kept)
      // (mounts/ holds the uppers of the host's other mounts, where it has any)
      const kept = readdirSync(dir).filter((n) => (!['ready', 'go'].includes(n) || !lstatSync(join(dir, n)).isFIFO()) && n !== 'mounts');
      expect(kept.sort()).toEqual(['hosts', 'pid', 'resolv.conf', 'root', 'settings', 'storage', 'utsname', 'work']);
      expect(readFileSync(join(dir, 'utsname'), 'utf8').trim()).toBe('xdg');
      expect(readdirSync(join(dir, 'root'))).toEqual([]);
      removeKept(dir);
    } finally {
      base.remove();
    }
  });

  it('goes under the real path of a $XDG_RUNTIME_DIR that is a symlink (the mount table names real paths)', async () => {
    const base = privateBase();
    const link = `${base.dir}.link`;
    try {
      symlinkSync(base.dir, link);
      const r = await runMinc(['-k', 'ls', '/dev/null'], { env: { ...base.env, XDG_RUNTIME_DIR: link } });
      expect(r.exitCode).toBe(0);
      expect(r.stdout).toBe('/dev/null');
      const [kept] = base.entries();
      expect(reuseDir(r.stderr)).toBe(join(base.dir, kept!));
      removeKept(join(base.dir, kept!));
    } finally {
      rmSync(link, { force: true });
      base.remove();
    }
  });

  it('is named minc<pid>-XXXXXX under /run while the run lasts, and is gone after it', async () => {
    const sync = mkdtempSync(join(scratch, 'sync-'));
    const p = startMinc(['-r', rootfs.dir, '-b', `${sync}:/sync`, 'sh', '-c',
      'touch /sync/started; while [ ! -e /sync/go ]; do sleep 0.02; done']);
    await waitFor(() => existsSync(join(sync, 'started')), 'the command to start');
    const during = readdirSync(tempBase()).filter((n) => n.startsWith(`minc${p.pid}-`));
    writeFileSync(join(sync, 'go'), '');
    const r = await p;
    expect(r.exitCode).toBe(0);
    expect(during).toHaveLength(1);
    expect(during[0]).toMatch(/^minc\d+-\w{6}$/);
    expect(readdirSync(tempBase()).filter((n) => n.startsWith(`minc${p.pid}-`))).toEqual([]);
  });
});
