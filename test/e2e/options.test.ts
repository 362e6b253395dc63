/**
 * Every option of issue 2 not covered elsewhere, end to end: --name, --user,
 * --nocaps, --as-pid-1, --preserve-fds (and the fds that must not pass),
 * the command's environment, -k/-t, --dry-run, --doctor, --debug, -h.
 */
import { execa } from 'execa';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  expectNothingLeft, removeKept, reuseDir, runEntriesButMinc, runMinc, spawnTracked, tempdirsOf,
} from '../helpers/e2e.js';
import { MINC } from '../helpers/minc.js';
import { makeBusyboxRootfs } from '../helpers/rootfs.js';

let rootfs: { dir: string; remove: () => void };
let scratch: string;

beforeAll(() => {
  rootfs = makeBusyboxRootfs();
  scratch = mkdtempSync('/tmp/minc-e2e-options-');
});

afterAll(() => {
  rootfs.remove();
  rmSync(scratch, { recursive: true, force: true });
  expectNothingLeft();
});

const NOBODY = ['--reuid=65534', '--regid=65534', '--clear-groups'];

/** Bit n of a hex capability mask from /proc/PID/status. */
const capBit = (status: string, field: string, bit: number): boolean => {
  const hex = new RegExp(`^${field}:\\s*([0-9a-f]+)$`, 'm').exec(status)?.[1];
  if (!hex) throw new Error(`no ${field} in ${status}`);
  return ((BigInt(`0x${hex}`) >> BigInt(bit)) & 1n) === 1n;
};
const CAP_SYS_ADMIN = 21;

describe('--name', () => {
  it("sets the hostname (and /etc/hosts' name); without it the host's name is kept", async () => {
    const r = await runMinc(['--name', 'c-1.example', '-r', rootfs.dir, 'sh', '-c', 'hostname; grep -c c-1.example /etc/hosts']);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe('c-1.example\n1');
    const plain = await runMinc(['-r', rootfs.dir, 'hostname']);
    expect(plain.stdout).toBe((await execa('hostname')).stdout);
  });
});

describe('--user', () => {
  it('UID and UID:GID are numbers; the process really runs as them', async () => {
    const r = await runMinc(['--user', '1000:1234', '-r', rootfs.dir, 'sh', '-c', "grep -E '^(Uid|Gid):' /proc/self/status; touch /not-mine"]);
    expect(r.stdout).toMatch(/^Uid:\s+1000\s+1000\s+1000\s+1000$/m);
    expect(r.stdout).toMatch(/^Gid:\s+1234\s+1234\s+1234\s+1234$/m);
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toMatch(/Permission denied/);
  });

  it("the supplementary groups are the user's in the container root's /etc/group, not root's", async () => {
    // the rootfs's group file lists user in staff (50)
    const r = await runMinc(['--user', 'user', '-r', rootfs.dir, 'sh', '-c', "grep -E '^(Uid|Gid|Groups):' /proc/self/status"]);
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/^Uid:\s+1000\s+1000\s+1000\s+1000$/m);
    expect(r.stdout).toMatch(/^Gid:\s+1000\s+1000\s+1000\s+1000$/m);
    const groups = /^Groups:\s*(.*)$/m.exec(r.stdout)?.[1]?.trim().split(/\s+/).map(Number).sort((a, b) => a - b);
    expect(groups).toEqual([50, 1000]);
  });

  it('with --nocaps too (capsh switches user), even when the switch capabilities are dropped', async () => {
    for (const caps of ['all', 'sys_chroot,setuid,setgid', 'net_raw']) {
      const r = await runMinc(['--user', 'user', '--nocaps', caps, '-r', rootfs.dir, 'sh', '-c', "grep -E '^(Uid|Gid|Groups|CapBnd):' /proc/self/status"]);
      expect(r.stderr, caps).toBe('');
      expect(r.exitCode, caps).toBe(0);
      expect(r.stdout, caps).toMatch(/^Uid:\s+1000\s+1000\s+1000\s+1000$/m);
      expect(r.stdout, caps).toMatch(/^Gid:\s+1000\s+1000\s+1000\s+1000$/m);
      const groups = /^Groups:\s*(.*)$/m.exec(r.stdout)?.[1]?.trim().split(/\s+/).map(Number).sort((a, b) => a - b);
      expect(groups, caps).toEqual([50, 1000]);
      // the drop holds: cap_setuid (7) is gone from the bounding set with all and setuid, kept with net_raw
      expect(capBit(r.stdout, 'CapBnd', 7), caps).toBe(caps === 'net_raw');
    }
  });

  it("a name is looked up in the container root's /etc/passwd and /etc/group", async () => {
    const r = await runMinc(['--user', 'user:staff', '-r', rootfs.dir, 'sh', '-c', 'id -u; id -g']);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe('1000\n50');
    const u = await runMinc(['--user', 'user', '-r', rootfs.dir, 'id', '-g']);
    expect(u.stdout).toBe('1000');
  });
});

describe('--nocaps', () => {
  it('cap_sys_admin: a mount inside fails, and the capability is gone from the bounding and effective sets', async () => {
    const script = "cat /proc/self/status; mkdir -p /mnt; mount -t tmpfs none /mnt && echo MOUNTED";
    const without = await runMinc(['-r', rootfs.dir, 'sh', '-c', script]);
    expect(without.stdout).toContain('MOUNTED');
    expect(capBit(without.stdout, 'CapEff', CAP_SYS_ADMIN)).toBe(true);
    const r = await runMinc(['--nocaps', 'cap_sys_admin', '-r', rootfs.dir, 'sh', '-c', script]);
    expect(r.stdout).not.toContain('MOUNTED');
    expect(r.stderr).toMatch(/mount/);
    expect(capBit(r.stdout, 'CapEff', CAP_SYS_ADMIN)).toBe(false);
    expect(capBit(r.stdout, 'CapBnd', CAP_SYS_ADMIN)).toBe(false);
    // other capabilities stay (cap_chown is bit 0)
    expect(capBit(r.stdout, 'CapEff', 0)).toBe(true);
  });

  it('a comma separated list, names with or without cap_', async () => {
    const r = await runMinc(['--nocaps', 'sys_admin,cap_chown', '-r', rootfs.dir, 'cat', '/proc/self/status']);
    expect(r.exitCode).toBe(0);
    expect(capBit(r.stdout, 'CapBnd', CAP_SYS_ADMIN)).toBe(false);
    expect(capBit(r.stdout, 'CapBnd', 0)).toBe(false);
    expect(capBit(r.stdout, 'CapBnd', 1)).toBe(true);
  });
});

describe('--as-pid-1', () => {
  it("execs the command as PID 1 (sh -c 'echo $$' prints 1); without it minc's init is PID 1", async () => {
    const r = await runMinc(['--as-pid-1', '-r', rootfs.dir, 'sh', '-c', 'echo $$']);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe('1');
    const plain = await runMinc(['-r', rootfs.dir, 'sh', '-c', 'echo $$']);
    expect(plain.stdout).not.toBe('1');
    expect(Number(plain.stdout)).toBeGreaterThan(1);
  });

  it("passes the command's exit status, and the host root is detached there too", async () => {
    // pivot_root put the host root on /tmp: once it is detached, /tmp is the container's empty tmpfs again
    const r = await runMinc(['--as-pid-1', '-r', rootfs.dir, 'sh', '-c', "grep ' /tmp' /proc/mounts; ls -A /tmp | wc -l; ls -d /tmp/usr /tmp/etc 2>/dev/null | wc -l; exit 9"]);
    expect(r.exitCode).toBe(9);
    const lines = r.stdout.split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/^tmpfs \/tmp tmpfs /);
    expect(lines.slice(1)).toEqual(['0', '0']);
  });
});

describe('file descriptors', () => {
  /** fds of the command's shell, listed by a child (a listing of its own fds would show the directory fd it reads with). */
  const LIST_FDS = `sh -c 'echo $(ls /proc/$PPID/fd)'`;

  /** minc started by bash after `exec 3<FILE 9</` (a caller holding fds open), as users do. */
  function withCallerFds(file: string, args: string[]) {
    return spawnTracked('bash', ['-c', `exec 3<"$1" 9</; shift; exec "$@"`, 'bash', file, MINC, ...args]);
  }

  it("without --preserve-fds, a caller's fd 3 and fd 9 (open on /) do not reach the command", async () => {
    const file = join(scratch, 'fd3');
    writeFileSync(file, 'secret-fd3\n');
    const r = await withCallerFds(file, ['-r', rootfs.dir, 'sh', '-c', `${LIST_FDS}; cat <&3; ls /proc/self/fd/9`]);
    expect(r.stdout.split('\n')[0]!.trim()).toBe('0 1 2');
    expect(r.stdout).not.toContain('secret-fd3');
    expect(r.exitCode).not.toBe(0);
  });

  it('the same with the default root and --as-pid-1', async () => {
    const file = join(scratch, 'fd3b');
    writeFileSync(file, 'secret-fd3\n');
    for (const extra of [[], ['--as-pid-1']]) {
      const r = await withCallerFds(file, [...extra, 'sh', '-c', LIST_FDS]);
      expect(r.exitCode, extra.join(' ')).toBe(0);
      expect(r.stdout.trim(), extra.join(' ')).toBe('0 1 2');
    }
  });

  it('--preserve-fds 1: fd 3 of the caller is readable inside; fd 9 still is not passed', async () => {
    const file = join(scratch, 'fd3c');
    writeFileSync(file, 'passed-fd3\n');
    const r = await withCallerFds(file, ['--preserve-fds', '1', '-r', rootfs.dir, 'sh', '-c', `${LIST_FDS}; cat <&3`]);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe('0 1 2 3\npassed-fd3');
  });

  it("--preserve-fds 1 when the caller has no fd 3 is bad input; minc's own fd 3 never reaches the command", async () => {
    // (closed by the caller: the test worker itself may hold an fd 3)
    const r = await spawnTracked('bash', ['-c', 'exec 3<&-; exec "$@"', 'bash', MINC, '--preserve-fds', '1', '-r', rootfs.dir,
      'sh', '-c', 'ls -l /proc/$$/fd/']);
    expect(r.stdout).not.toMatch(/eventpoll|eventfd|pipe:/);
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toMatch(/^minc: .*3/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });
});

describe("the command's environment", () => {
  it('MINC_* variables (the caller\'s and minc\'s own) do not reach the command; the rest does', async () => {
    const r = await runMinc(['-r', rootfs.dir, 'env'], {
      env: { ...process.env, MINC_FOO: 'caller', MINC_STAGE: 'x', MINC_DEBUG: '1', minc_s: 'caller', KEEP_ME: 'kept value' },
    });
    expect(r.exitCode).toBe(0);
    const names = r.stdout.split('\n').map((l) => l.split('=')[0]);
    expect(names.filter((n) => /^minc_/i.test(n ?? ''))).toEqual([]);
    expect(r.stdout).toMatch(/^KEEP_ME=kept value$/m);
    expect(r.stdout).not.toMatch(/^_s=/m);
  });

  it("no internal state of minc's stage leaks into the environment (temp dir path, init's /proc/self/stat)", async () => {
    // a caller's shell exports `_` (bash always does)
    const { OLDPWD: _callers, ...callerEnv } = process.env;
    const p = spawnTracked(MINC, ['-r', rootfs.dir, 'env'], { env: { ...callerEnv, _: MINC }, extendEnv: false });
    const r = await p;
    expect(r.exitCode).toBe(0);
    const env = new Map(r.stdout.split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)] as const));
    const leaks = [...env].filter(([k, v]) => /\/minc\d+-\w{6}|minc-init/.test(v) || /^minc_/i.test(k) || (k === '_' && v !== MINC));
    expect(leaks).toEqual([]);
    // the stage's cd into the new root is not remembered either (a caller without OLDPWD gets none)
    expect(env.has('OLDPWD')).toBe(false);
  });
});

describe('-k / -t', () => {
  it('-t DIR reuses the saved utsname and storage, and keeps the dir', async () => {
    const first = await runMinc(['-k', '--name', 'reused-name', '-r', rootfs.dir, 'sh', '-c', 'echo persisted > /state']);
    expect(first.exitCode).toBe(0);
    const dir = reuseDir(first.stderr);
    expect(first.stderr).toMatch(/^minc: .*minc .*-t /m);
    try {
      expect(readFileSync(join(dir, 'storage', 'state'), 'utf8')).toBe('persisted\n');
      const again = await runMinc(['-t', dir, 'sh', '-c', 'hostname; cat /state; cat /MARKER 2>/dev/null; ls /bin/busybox']);
      expect(again.exitCode).toBe(0);
      // the saved rootdir is reused too (the busybox root, not the host's /)
      expect(again.stdout).toBe('reused-name\npersisted\n/bin/busybox');
      expect(existsSync(dir)).toBe(true);
      expect(reuseDir(again.stderr)).toBe(dir);
      expect(existsSync(join(rootfs.dir, 'state'))).toBe(false);
    } finally {
      removeKept(dir);
    }
  });

  it('--tempdir on an empty directory of the caller uses it and keeps it', async () => {
    const dir = mkdtempSync(join(scratch, 'own-tempdir-'));
    const r = await runMinc(['--tempdir', dir, '-r', rootfs.dir, 'sh', '-c', 'echo hi > /f']);
    expect(r.exitCode).toBe(0);
    expect(readFileSync(join(dir, 'storage', 'f'), 'utf8')).toBe('hi\n');
    expect(readdirSync(join(dir, 'root'))).toEqual([]);
    removeKept(dir);
  });
});

describe('--dry-run', () => {
  it('works without root, prints the plan, and creates nothing', async () => {
    const before = runEntriesButMinc();
    const p = spawnTracked('setpriv', [...NOBODY, MINC, '--dry-run', '-r', rootfs.dir, '--name', 'dry', '-b', `${scratch}:/s:ro`, 'true']);
    const r = await p;
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    // (a user who is not root: the rootless plan, fuse-overlayfs over a root of other owners: src/rootless/plan.ts)
    for (const word of ['unshare --user --map-root-user', 'fuse_root', `lowerdir=${rootfs.dir}`, 'enter_pidns', 'pivot_root', 'hostname dry', 'devpts', 'none bind,ro', 'mount_table']) {
      expect(r.stdout, word).toContain(word);
    }
    // every command has its reason on the line before
    const lines = r.stdout.split('\n').filter(Boolean);
    lines.forEach((l, i) => {
      if (l.startsWith('+ ')) expect(lines[i - 1], l).toMatch(/^:;: .* ;:$/);
    });
    expect(tempdirsOf(p.pid)).toEqual([]);
    expect(runEntriesButMinc()).toEqual(before);
  });

  it('as root it creates nothing either', async () => {
    const p = spawnTracked(MINC, ['--dry-run', 'touch', '/should-not-exist']);
    const r = await p;
    expect(r.exitCode).toBe(0);
    for (const word of ['pivot_root', 'mount -t overlay', 'mknod']) expect(r.stdout, word).toContain(word);
    expect(r.stdout).not.toContain('--user');
    expect(tempdirsOf(p.pid)).toEqual([]);
    expect(existsSync('/should-not-exist')).toBe(false);
  });
});

describe('--doctor', () => {
  it('exits 0 here and prints its checks', async () => {
    const r = await runMinc(['--doctor']);
    expect(r.exitCode).toBe(0);
    for (const what of ['root', 'util-linux', 'overlay', 'capsh', 'unshare']) expect(r.stdout, what).toMatch(new RegExp(`^ok .*${what}`, 'm'));
    expect(r.stdout).not.toMatch(/FAIL/);
    // --qemu's and --cross's needs, reported (warn where the host lacks them: only those options need them)
    for (const what of ['qemu-system-x86', 'kvm', 'guest kernel', 'virtiofsd', 'qemu-user-static', 'binfmt_misc']) {
      expect(r.stdout, what).toMatch(new RegExp(`^(ok  |warn) ${what}: `, 'm'));
    }
  });

  it('not as root: the rootless checks instead of the root line (test/e2e/rootless-more.test.ts has them in full)', async () => {
    const r = await spawnTracked('setpriv', [...NOBODY, MINC, '--doctor']);
    expect(r.stdout).toMatch(/^ok   user: nobody \(uid 65534\), not root: minc runs rootless/m);
    expect(r.stdout).not.toMatch(/^\S+ +root:/m);
  });
});

describe('--debug', () => {
  it('prints each command after its one-line reason on stderr, host side and inside; stdout is the command\'s', async () => {
    const r = await runMinc(['--debug', '-r', rootfs.dir, 'echo', 'payload']);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe('payload');
    const lines = r.stderr.split('\n').filter(Boolean);
    expect(lines.filter((l) => /^:;: .* ;:$/.test(l)).length).toBeGreaterThan(20);
    lines.forEach((l, i) => {
      if (l.startsWith('+ ')) expect(lines[i - 1], l).toMatch(/^:;: .* ;:$/);
    });
    const commands = lines.filter((l) => l.startsWith('+ ')).join('\n');
    // host side
    expect(commands).toMatch(/\+ .*unshare .*--pid/);
    expect(r.stderr).toMatch(/:;: Make the temporary directory/);
    // inside
    expect(commands).toMatch(/\+ .*mount -t overlay .*lowerdir=/);
    expect(commands).toMatch(/\+ pivot .*\/root \/tmp\n/);
    // the container's own nodes: one cp -a of the host's (mknod(2) each), or mknod where the host's look wrong
    expect(commands).toMatch(/\+ .*(mknod .*\/dev\/null c 1 3|cp -a \/dev\/null .*\/dev\/)/);
    // no colour when stderr is not a terminal
    expect(r.stderr).not.toContain('\u001b[');
  });

  it('is coloured (chalk) on a terminal', async () => {
    // (chalk turns colour off under CI=true, as .ci/run sets it: a user's terminal has no CI)
    const { CI: _ci, ...env } = process.env;
    const r = await execa('script', ['-qec', `${MINC} --debug true`, '/dev/null'], { reject: false, stdin: 'ignore', timeout: 60_000, env, extendEnv: false });
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/\u001b\[\d+m:;: /);
  });
});

describe('-h / --help', () => {
  it('lists every option of issue 2', async () => {
    const r = await runMinc(['-h']);
    expect(r.exitCode).toBe(0);
    expect(r.stderr).toBe('');
    for (const o of ['-h', '--help', '-k', '--keep', '-t', '--tempdir', '-D', '--direct', '-r', '--rootdir', '-b', '--bind', '--name',
      '--user', '--usedev', '--nocaps', '--pivot', '--debug', '--dry-run', '--as-pid-1', '--doctor', '--gc', '--preserve-fds']) {
      expect(r.stdout, o).toMatch(new RegExp(`(^|[\\s,])${o}\\b`, 'm'));
    }
    expect(r.stdout).toMatch(/Usage: minc/);
  });

  it('creates nothing and needs no root', async () => {
    const p = spawnTracked('setpriv', [...NOBODY, MINC, '--help']);
    const r = await p;
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain('--keep');
    expect(tempdirsOf(p.pid)).toEqual([]);
  });
});
