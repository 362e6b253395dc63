/**
 * minc as an ordinary user (issue 11), end to end: a real user made by
 * useradd, commands run as it through setpriv.  Test files live under
 * /var/tmp (the container's /tmp and /run are its own tmpfs).
 */
import { execa } from 'execa';
import { chmodSync, chownSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asUser, asUserArgv, makeUser, mincAsUser, removeUser, type TestUser } from '../helpers/rootless.js';
import { makeBusyboxRootfs } from '../helpers/rootfs.js';
import { sleep, waitFor } from '../helpers/e2e.js';
import { MINC } from '../helpers/minc.js';

let user: TestUser;
let work: string;

/** Processes of uid whose command line mentions word. */
async function userProcesses(uid: number, word: string): Promise<string[]> {
  // (not zombies: a killed fuse-overlayfs is reaped by the host's init, which on some machines takes its time)
  const r = await execa('ps', ['-u', String(uid), '-o', 'pid=,stat=,args='], { reject: false });
  return r.stdout.split('\n').filter((l) => l.includes(word) && !/^\s*\d+\s+Z/.test(l));
}

/** What is left of the user's runs: temp dirs, fuse-overlayfs, pasta and slirp4netns processes, mounts under its dirs. */
async function leftovers(): Promise<string[]> {
  const dirs = readdirSync(user.runtime).filter((n) => /^minc\d+-/.test(n));
  const fuse = [...(await userProcesses(user.uid, 'fuse-overlayfs')), ...(await userProcesses(user.uid, 'pasta')), ...(await userProcesses(user.uid, 'slirp4netns'))];
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(`${user.runtime}/`));
  return [...dirs, ...fuse, ...mounts];
}

beforeAll(async () => {
  user = await makeUser();
  // a test dir outside /tmp and /run (the container has its own), open to the user for reading only
  work = mkdtempSync('/var/tmp/mincs-rootless-');
  chmodSync(work, 0o755);
  writeFileSync(`${work}/rootfile`, 'root owns this\n', { mode: 0o644 });
  mkdirSync(`${work}/rootdir`, { mode: 0o755 });
  writeFileSync(`${work}/rootdir/gone`, 'remove me inside\n', { mode: 0o644 });
});

afterAll(async () => {
  if (user) await removeUser(user);
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('minc as an ordinary user', () => {
  it('runs as root of a user namespace, with its own hostname and processes; the user\'s other processes do not show', async () => {
    const other = execa('setpriv', ['--reuid', String(user.uid), '--regid', String(user.gid), '--init-groups', 'sleep', '30'], { reject: false });
    try {
      await waitFor(() => existsSync(`/proc/${other.pid}`), 'the user\'s sleep');
      const r = await mincAsUser(user, ['--name', 'demo', 'sh', '-c', 'id -u; hostname; ps -e -o args=']);
      expect(r.stderr).toBe('');
      expect(r.exitCode).toBe(0);
      const [uid, host, ...ps] = String(r.stdout).split('\n');
      expect(uid).toBe('0');
      expect(host).toBe('demo');
      expect(ps.some((l) => l.includes('sleep 30'))).toBe(false);
      expect(ps.some((l) => l.includes('fuse-overlayfs'))).toBe(false); // (outside the container's PID namespace)
      expect(ps.length).toBeLessThanOrEqual(4);
    } finally {
      other.kill('SIGKILL');
      await other;
    }
    expect(await leftovers()).toEqual([]);
  });

  it('changes root-owned host files inside, and the host stays untouched', async () => {
    const r = await mincAsUser(user, ['sh', '-c', `echo x >> ${work}/rootfile && rm ${work}/rootdir/gone && echo new > ${work}/rootdir/new && mkdir -p /usr/local/share/mincs-rl && cat ${work}/rootfile && ls -ln ${work}/rootfile && ls ${work}/rootdir`]);
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain('root owns this\nx\n');
    expect(r.stdout).toMatch(/ 0 +0 .*rootfile/); // shows as root's, not nobody's
    expect(String(r.stdout).trim().endsWith('new')).toBe(true);
    expect(readFileSync(`${work}/rootfile`, 'utf8')).toBe('root owns this\n');
    expect(readdirSync(`${work}/rootdir`)).toEqual(['gone']);
    expect(existsSync('/usr/local/share/mincs-rl')).toBe(false);
    expect(await leftovers()).toEqual([]);
  });

  it('walks the host view as the host: find sees every directory (fuse-overlayfs static_nlink shows directories with one link)', async () => {
    mkdirSync(`${work}/tree/a/b/c`, { recursive: true });
    mkdirSync(`${work}/tree/d`, { recursive: true });
    writeFileSync(`${work}/tree/a/b/c/leaf`, 'x\n');
    const host = await execa('find', [`${work}/tree`], { env: { LC_ALL: 'C' } });
    const r = await mincAsUser(user, ['sh', '-c', `find ${work}/tree | LC_ALL=C sort; stat -c %h ${work}/tree/a`]);
    expect(r.stderr).toBe('');
    const lines = String(r.stdout).split('\n');
    expect(lines.pop()).toBe('1');
    expect(lines).toEqual(host.stdout.split('\n').sort());
    rmSync(`${work}/tree`, { recursive: true });
  });

  it('passes pipes and the exit status through, and keeps (-k), reuses (-t) and summarises a temp dir', async () => {
    const piped = await mincAsUser(user, ['sh', '-c', 'tr a-z A-Z; exit 7'], { input: 'hello\n', stdin: undefined });
    expect(piped.stdout).toBe('HELLO');
    expect(piped.exitCode).toBe(7);
    const kept = await mincAsUser(user, ['-k', 'sh', '-c', `echo kept > ${work}/rootdir/k`]);
    expect(kept.exitCode).toBe(0);
    const dir = /minc -t (\S+)$/m.exec(String(kept.stderr))?.[1];
    expect(dir).toBeTruthy();
    const again = await mincAsUser(user, ['-t', dir!, 'cat', `${work}/rootdir/k`]);
    expect(again.stdout).toBe('kept');
    const summary = await mincAsUser(user, ['--summary', dir!]);
    expect(summary.stdout).toContain(`A ${work}/rootdir/k`);
    const gone = await asUser(user, 'rm', ['-rf', dir!]);
    // (the upper's files belong to the user, or to its subordinate ids: minc --gc's removal handles both; here plain rm must do for an untouched tree)
    expect(gone.exitCode === 0 || existsSync(dir!)).toBe(true);
    if (existsSync(dir!)) await execa('rm', ['-rf', dir!]);
  });

  it('--summary lists what lies below a dir a chown inside closed to the user (read in the user\'s mapped namespace)', async () => {
    const kept = await mincAsUser(user, ['-k', 'sh', '-c', `mkdir ${work}/closed && echo a > ${work}/closed/f && chown 33:33 ${work}/closed && chmod 700 ${work}/closed`]);
    expect(kept.exitCode, String(kept.stderr)).toBe(0);
    const dir = /minc -t (\S+)$/m.exec(String(kept.stderr))?.[1];
    try {
      const summary = await mincAsUser(user, ['--summary', dir!]);
      expect(summary.stderr).toBe('');
      expect(String(summary.stdout).split('\n')).toEqual(expect.arrayContaining([`A ${work}/closed`, `A ${work}/closed/f`]));
    } finally {
      await mincAsUser(user, ['--gc']);
      if (dir) await execa('rm', ['-rf', dir]);
    }
  });

  it('--hide shows a path empty; /proc/sys and /sys stay read-only', async () => {
    const r = await mincAsUser(user, ['--hide', `${work}/rootdir`, 'sh', '-c',
      `ls -A ${work}/rootdir | wc -l; echo 1 > /proc/sys/kernel/printk_ratelimit && echo procsys-written; touch /sys/kernel/mincs 2>/dev/null && echo sys-written; grep -E ' /sys | /proc/sys ' /proc/self/mountinfo | grep -c ' ro,'`]);
    const lines = String(r.stdout).split('\n');
    expect(lines[0]).toBe('0');
    expect(r.stdout).not.toContain('written');
    expect(lines.at(-1)).toBe('2');
  });

  it('a setuid binary inside gives no host privilege, and a host file the user may not write stays unwritten', async () => {
    // a setuid-root busybox, and a root-only file, bound in (a bind is the host's file itself)
    mkdirSync(`${work}/suid`, { mode: 0o755 });
    copyFileSync('/bin/busybox', `${work}/suid/busybox`);
    chownSync(`${work}/suid/busybox`, 0, 0);
    chmodSync(`${work}/suid/busybox`, 0o4755);
    writeFileSync(`${work}/secret`, 'root only\n', { mode: 0o600 });
    writeFileSync(`${work}/ro-for-user`, 'unchanged\n', { mode: 0o644 });
    const r = await mincAsUser(user, ['-b', `${work}:/mnt/host`, '--user', '1000', `${work}/suid/busybox`, 'sh', '-c',
      `id -u; cat /mnt/host/secret 2>/dev/null && echo read-secret; echo y >> /mnt/host/ro-for-user 2>/dev/null && echo wrote; true`]);
    expect(r.exitCode).toBe(0);
    // (the setuid bit gives at most root of the user namespace, the user on the host; fuse-overlayfs's mount here ignores it)
    expect(['0', '1000']).toContain(r.stdout);
    expect(r.stdout).not.toContain('read-secret');
    expect(r.stdout).not.toContain('wrote');
    expect(readFileSync(`${work}/ro-for-user`, 'utf8')).toBe('unchanged\n');
    // as root inside too: the bind shows the host's file, which only host root may write
    const asRoot = await mincAsUser(user, ['-b', `${work}:/mnt/host`, 'sh', '-c', 'echo y >> /mnt/host/ro-for-user 2>/dev/null && echo wrote; cat /mnt/host/secret 2>/dev/null && echo read-secret; true']);
    expect(asRoot.stdout).toBe('');
    expect(readFileSync(`${work}/ro-for-user`, 'utf8')).toBe('unchanged\n');
  });

  it('-r DIR of the user\'s own runs on kernel overlayfs; writes are thrown away', async () => {
    const rootfs = makeBusyboxRootfs('/var/tmp');
    try {
      await execa('chown', ['-R', `${user.uid}:${user.gid}`, rootfs.dir]);
      const r = await mincAsUser(user, ['--debug', '-r', rootfs.dir, 'sh', '-c', 'echo hi > /etc/f; cat /etc/f; id -u']);
      expect(r.stdout).toBe('hi\n0');
      expect(r.stderr).toContain('userxattr');
      expect(existsSync(`${rootfs.dir}/etc/f`)).toBe(false);
    } finally {
      rootfs.remove();
    }
  });

  it("--nopriv DIR: MINCS's test (test.d/01_rootfs/nopriv.sh) passes as an ordinary user", async () => {
    const rootfs = makeBusyboxRootfs('/var/tmp');
    chmodSync(rootfs.dir, 0o755); // (MINCS's: root made it, the user may read it)
    try {
      // (MINCS's shared rootfs has the mount points: a user cannot make them in a root-owned dir)
      for (const d of ['proc', 'sys', 'dev', 'tmp', 'run']) mkdirSync(`${rootfs.dir}/${d}`, { recursive: true });
      const key = `testfile.${Math.random().toString(36).slice(2, 7)}`;
      writeFileSync(`${rootfs.dir}/${key}`, `${key}\n`, { mode: 0o644 });
      const r = await mincAsUser(user, ['--nopriv', rootfs.dir, 'cat', `/${key}`]);
      expect(r.stderr).toBe('');
      expect(r.stdout).toBe(key);
    } finally {
      rootfs.remove();
    }
  });

  it('what needs root says so in one line and leaves nothing', async () => {
    for (const [args, want] of [[['--usedev', 'true'], /--usedev needs root/], [['--ftrace', '/bin/true', 'true'], /--ftrace needs root/], [['--qemu-tcg', 'true'], /--qemu needs root/]] as const) {
      const r = await mincAsUser(user, args);
      expect(r.exitCode).not.toBe(0);
      expect(r.stderr).toMatch(want);
      expect(String(r.stderr).trim().split('\n')).toHaveLength(1);
    }
    expect(await leftovers()).toEqual([]);
  });

  it('fuse-overlayfs failing to mount (a root dir of root\'s it may not read) ends the run with its words in one line, and leaves nothing', async () => {
    const closed = mkdtempSync('/var/tmp/mincs-rl-closed-');
    try {
      mkdirSync(`${closed}/bin`);
      copyFileSync('/bin/busybox', `${closed}/bin/busybox`);
      chmodSync(`${closed}/bin/busybox`, 0o755);
      chmodSync(closed, 0o711); // (passable, not readable: fuse-overlayfs cannot read it as a lower)
      const r = await mincAsUser(user, ['-r', closed, '/bin/busybox', 'true']);
      expect(r.exitCode).toBe(125);
      expect(r.stderr).toMatch(/^minc: Wait for the fuse-overlayfs mount \(it started beside the step above\): cannot load store .*fuse-overlayfs: cannot read lower dirs: Permission denied$/);
      expect(String(r.stderr).trim().split('\n')).toHaveLength(1);
      expect(await leftovers()).toEqual([]);
    } finally {
      rmSync(closed, { recursive: true, force: true });
    }
  });

  it('a SIGTERM reaches the command; a SIGKILL of minc leaves no fuse-overlayfs or mount, and --gc takes the temp dir', async () => {
    const term = execa('setpriv', asUserArgv(user, MINC, ['sh', '-c', 'trap "exit 42" TERM; touch /run/.up; while :; do sleep 0.1; done']), { reject: false });
    await waitFor(() => readdirSync(user.runtime).some((n) => /^minc\d+-/.test(n) && existsSync(`${user.runtime}/${n}/pid`)), 'the command to start');
    await sleep(300);
    await execa('pkill', ['-TERM', '-u', String(user.uid), '-f', 'bin/minc sh -c trap'], { reject: false });
    const t = await term;
    expect(t.exitCode).toBe(42);
    expect(await leftovers()).toEqual([]);

    const killed = execa('setpriv', asUserArgv(user, MINC, ['sleep', '60']), { reject: false });
    await waitFor(() => readdirSync(user.runtime).some((n) => /^minc\d+-/.test(n) && existsSync(`${user.runtime}/${n}/pid`)), 'the command to start');
    expect((await userProcesses(user.uid, 'fuse-overlayfs')).length).toBe(1);
    await execa('pkill', ['-KILL', '-u', String(user.uid), '-f', 'bin/minc sleep 60'], { reject: false });
    await killed;
    await waitFor(() => readFileSync('/proc/self/mountinfo', 'utf8').split('\n').every((l) => !l.includes(`${user.runtime}/`)), 'mounts to go', 5000);
    await sleep(200);
    expect(await userProcesses(user.uid, 'fuse-overlayfs')).toEqual([]);
    expect(await userProcesses(user.uid, 'sleep 60')).toEqual([]);
    const gc = await mincAsUser(user, ['--gc']);
    expect(gc.exitCode).toBe(0);
    expect(await leftovers()).toEqual([]);
  });
});

describe('minc as a user without subordinate ids', () => {
  let lone: TestUser;
  beforeAll(async () => {
    lone = await makeUser({ subids: false });
  });
  afterAll(async () => {
    if (lone) await removeUser(lone);
  });

  it('runs with the one mapping: files show as root, and --user of another id says what to do', async () => {
    const r = await mincAsUser(lone, ['sh', '-c', `cat /proc/self/uid_map; ls -ln ${work}/rootfile; echo z >> ${work}/rootfile && echo appended`]);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/^\s*0\s+\d+\s+1$/m);
    expect(r.stdout).toMatch(/ 0 +0 .*rootfile/);
    expect(r.stdout).toContain('appended');
    const u = await mincAsUser(lone, ['--user', '1000', 'true']);
    expect(u.exitCode).not.toBe(0);
    expect(u.stderr).toMatch(/subordinate ids.*\/etc\/subuid/);
  });
});
