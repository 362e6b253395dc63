/**
 * What the command sees of the container's file system: the root (overlay,
 * -r, --direct), /dev, /proc, /sys, /tmp, /etc, user binds, and that a chroot
 * breakout or a symlink in a rootfs cannot reach the host.
 */
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, realpathSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectNothingLeft, runMinc, unique } from '../helpers/e2e.js';
import { makeBusyboxRootfs } from '../helpers/rootfs.js';

let rootfs: { dir: string; remove: () => void };
let scratch: string;
let marker: string;

beforeAll(() => {
  rootfs = makeBusyboxRootfs();
  scratch = mkdtempSync('/tmp/minc-e2e-rootfs-');
  marker = `rootfs-marker-${unique()}`;
  writeFileSync(join(rootfs.dir, 'MARKER'), `${marker}\n`);
});

afterAll(() => {
  rootfs.remove();
  rmSync(scratch, { recursive: true, force: true });
  expectNothingLeft();
});

/** path is a symlink (existsSync follows links: a dangling one would not show). */
const isLink = (path: string): boolean => lstatSync(path, { throwIfNoEntry: false })?.isSymbolicLink() ?? false;

/** Run sh -c script in the busybox rootfs; expects success. */
async function inRootfs(script: string, extra: string[] = []): Promise<string> {
  const r = await runMinc([...extra, '-r', rootfs.dir, 'sh', '-c', script]);
  expect(r.stderr).toBe('');
  expect(r.exitCode).toBe(0);
  return r.stdout;
}

/** Mount points and options of /proc/mounts inside. */
function parseMounts(text: string): { mp: string; type: string; opts: string[] }[] {
  return text.split('\n').filter(Boolean).map((l) => {
    const f = l.split(' ');
    return { mp: f[1] ?? '', type: f[2] ?? '', opts: (f[3] ?? '').split(',') };
  });
}

describe('the root', () => {
  it('-r ROOTFS: the command sees the rootfs at /, and writes stay out of it', async () => {
    const out = await inRootfs('cat /MARKER; echo new > /new-file; mkdir /newdir; rm /bin/wc; ls /bin/wc 2>/dev/null; cat /new-file');
    expect(out).toBe(`${marker}\nnew`);
    expect(existsSync(join(rootfs.dir, 'new-file'))).toBe(false);
    expect(existsSync(join(rootfs.dir, 'newdir'))).toBe(false);
    expect(existsSync(join(rootfs.dir, 'bin/wc'))).toBe(true);
  });

  it('/ is an overlay whose lower dir is the rootfs', async () => {
    const mounts = parseMounts(await inRootfs('cat /proc/mounts'));
    const root = mounts.find((m) => m.mp === '/');
    expect(root?.type).toBe('overlay');
    expect(root?.opts).toContain(`lowerdir=${rootfs.dir}`);
  });

  it('--direct -r ROOTFS: writes reach the rootfs dir itself', async () => {
    // a rootfs of its own: --direct changes it (mount points included)
    const own = makeBusyboxRootfs();
    const name = `direct-${unique()}`;
    try {
      const r = await runMinc(['--direct', '-r', own.dir, 'sh', '-c', `echo direct-write > /${name}; grep ' / ' /proc/mounts`]);
      expect(r.stderr).toBe('');
      expect(r.exitCode).toBe(0);
      expect(r.stdout).not.toMatch(/overlay/);
      expect(readFileSync(join(own.dir, name), 'utf8')).toBe('direct-write\n');
      // -D is the short form
      const r2 = await runMinc(['-D', '-r', own.dir, 'rm', `/${name}`]);
      expect(r2.exitCode).toBe(0);
      expect(existsSync(join(own.dir, name))).toBe(false);
    } finally {
      own.remove();
    }
  });

  it('--direct leaves no /etc/resolv.conf, /etc/hosts or /etc/mtab in a rootfs that has none', async () => {
    const own = makeBusyboxRootfs();
    try {
      const etc = readdirSync(join(own.dir, 'etc')).sort();
      const r = await runMinc(['--direct', '-r', own.dir, '--name', 'direct-etc', 'sh', '-c', 'ls /etc; hostname']);
      expect(r.stderr).toBe('');
      expect(r.exitCode).toBe(0);
      expect(r.stdout.split('\n').at(-1)).toBe('direct-etc');
      for (const f of ['resolv.conf', 'hosts', 'mtab']) {
        expect(existsSync(join(own.dir, 'etc', f)) || isLink(join(own.dir, 'etc', f)), f).toBe(false);
      }
      expect(readdirSync(join(own.dir, 'etc')).sort()).toEqual(etc);
    } finally {
      own.remove();
    }
  });

  it("--direct binds minc's resolv.conf and hosts on plain files the rootfs has, leaving the files as they were", async () => {
    const own = makeBusyboxRootfs();
    try {
      writeFileSync(join(own.dir, 'etc/resolv.conf'), 'nameserver 192.0.2.53\n');
      writeFileSync(join(own.dir, 'etc/hosts'), '192.0.2.1 original\n');
      const r = await runMinc(['--direct', '-r', own.dir, '--name', 'direct-hosts', 'sh', '-c',
        'cat /etc/hosts; echo ---; cat /etc/resolv.conf; echo "192.0.2.9 written" >> /etc/hosts']);
      expect(r.stderr).toBe('');
      expect(r.exitCode).toBe(0);
      const [hosts, resolv] = r.stdout.split('---\n');
      expect(hosts).toMatch(/\sdirect-hosts$/m);
      expect(hosts).not.toContain('original');
      expect(resolv!.trim()).toBe(readFileSync('/etc/resolv.conf', 'utf8').trim());
      expect(readFileSync(join(own.dir, 'etc/resolv.conf'), 'utf8')).toBe('nameserver 192.0.2.53\n');
      expect(readFileSync(join(own.dir, 'etc/hosts'), 'utf8')).toBe('192.0.2.1 original\n');
      expect(existsSync(join(own.dir, 'etc/mtab')) || isLink(join(own.dir, 'etc/mtab'))).toBe(false);
    } finally {
      own.remove();
    }
  });

  it('a chroot breakout (mkdir x; chroot x; cd ../../..; chroot .) lands in the container root', async () => {
    // perl (perl-base, on every Debian) calls chroot(2) without chdir, as the classic breakout does
    const inside = `inside-${unique()}`;
    const script = `echo ${inside} > /minc-breakout-marker; cd /tmp;
      perl -e 'mkdir "x"; chroot "x" or die "chroot x: $!"; chdir ".." for 1..64; chroot "." or die "chroot .: $!";
        open(F, "<", "/minc-breakout-marker") or die "escaped: no marker: $!"; print <F>;
        print -e "/tmp/etc/passwd" || -e "/tmp/usr" ? "oldroot-visible\\n" : "";'`;
    const r = await runMinc(['sh', '-c', script]);
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe(inside);
    expect(existsSync('/minc-breakout-marker')).toBe(false);
  });
});

describe('/dev', () => {
  it('is a private tmpfs with only null zero full random urandom tty (made by mknod), pts, shm, mqueue and links', async () => {
    const out = await inRootfs(`grep ' /dev ' /proc/mounts; ls -a /dev | sort | tr '\\n' ' '; echo;
      for d in null zero full random urandom tty; do echo "$d $(stat -c '%F %t:%T %a' /dev/$d)"; done`);
    const [mountLine, listing, ...nodes] = out.split('\n');
    expect(mountLine).toMatch(/^tmpfs \/dev tmpfs /);
    expect(listing!.trim().split(' ').sort()).toEqual(
      ['.', '..', 'fd', 'full', 'mqueue', 'null', 'ptmx', 'pts', 'random', 'shm', 'stderr', 'stdin', 'stdout', 'tty', 'urandom', 'zero'].sort());
    expect(nodes).toEqual([
      'null character special file 1:3 666',
      'zero character special file 1:5 666',
      'full character special file 1:7 666',
      'random character special file 1:8 666',
      'urandom character special file 1:9 666',
      'tty character special file 5:0 666',
    ]);
  });

  it('the nodes work', async () => {
    const out = await inRootfs(`echo x > /dev/null && echo null-ok; head -c 4 /dev/zero | wc -c; head -c 8 /dev/urandom | wc -c;
      head -c 8 /dev/random | wc -c; (echo y > /dev/full) 2>/dev/null || echo full-is-full`);
    expect(out.split('\n').map((l) => l.trim())).toEqual(['null-ok', '4', '8', '8', 'full-is-full']);
  });

  it("chmod 600 /dev/null inside does not change the host's /dev/null", async () => {
    const before = statSync('/dev/null').mode & 0o7777;
    try {
      const out = await inRootfs('chmod 600 /dev/null && stat -c %a /dev/null; rm /dev/zero && ls /dev/zero 2>/dev/null; echo done');
      expect(out).toBe('600\ndone');
      expect(statSync('/dev/null').mode & 0o7777).toBe(before);
      expect(existsSync('/dev/zero')).toBe(true);
    } finally {
      chmodSync('/dev/null', before); // repair the host if minc got it wrong
    }
  });

  it('devpts is a new instance, /dev/ptmx -> pts/ptmx', async () => {
    const hostPtsDev = statSync('/dev/pts').dev;
    const out = await inRootfs(`readlink /dev/ptmx; ls /dev/pts | tr '\\n' ' '; echo; stat -c %d /dev/pts; grep ' /dev/pts ' /proc/mounts`);
    const [link, pts, dev, mount] = out.split('\n');
    expect(link).toBe('pts/ptmx');
    expect(pts!.trim()).toBe('ptmx');
    expect(Number(dev)).not.toBe(hostPtsDev);
    expect(mount).toMatch(/^devpts \/dev\/pts devpts .*ptmxmode=666/);
  });

  it('/dev/shm and /dev/mqueue are the container\'s own', async () => {
    const mounts = parseMounts(await inRootfs('cat /proc/mounts'));
    expect(mounts.find((m) => m.mp === '/dev/shm')?.type).toBe('tmpfs');
    expect(mounts.find((m) => m.mp === '/dev/mqueue')?.type).toBe('mqueue');
  });

  it('has no /dev/console without a terminal', async () => {
    const out = await inRootfs('ls /dev/console 2>/dev/null; echo end');
    expect(out).toBe('end');
  });

  it("--usedev mounts the host's devtmpfs on /dev, with its own devpts", async () => {
    const out = await inRootfs(`grep -E ' /dev(/pts)? ' /proc/mounts; ls /dev/pts | tr '\\n' ' '; echo; ls /dev | wc -l`, ['--usedev']);
    const lines = out.split('\n');
    expect(lines[0]).toMatch(/^devtmpfs \/dev devtmpfs /);
    expect(lines[1]).toMatch(/^devpts \/dev\/pts devpts /);
    expect(lines[2]!.trim()).toBe('ptmx');
    expect(Number(lines[3])).toBe(readdirSync('/dev').length);
  });
});

describe('/proc and /sys', () => {
  it('/proc is fresh: only the container\'s processes, PID 1 is minc\'s init', async () => {
    const out = await inRootfs('cd /proc && for p in [0-9]*; do echo $p; done; echo "self=$$"; tr "\\0" " " < /proc/1/cmdline');
    const lines = out.split('\n');
    const pids = lines.filter((l) => /^\d+$/.test(l)).map(Number);
    expect(pids).toContain(1);
    expect(pids.length).toBeLessThanOrEqual(4);
    expect(lines.find((l) => l.startsWith('self='))).toBe(`self=${pids.filter((p) => p !== 1).at(-1)}`);
    expect(lines.at(-1)).not.toBe(readFileSync('/proc/1/cmdline', 'utf8').replace(/\0/g, ' '));
  });

  it('/proc/sys is read-only: writing /proc/sys/kernel/hostname fails', async () => {
    const r = await runMinc(['-r', rootfs.dir, 'sh', '-c', 'echo evil > /proc/sys/kernel/hostname; echo "st=$?"; hostname']);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/^st=[1-9]/);
    expect(r.stderr).toMatch(/Read-only file system/);
    expect(r.stdout).not.toMatch(/evil/);
  });

  it('/proc/sys, /proc/sysrq-trigger, /proc/irq, /proc/bus, /proc/fs are mounted read-only (those the host has)', async () => {
    const mounts = parseMounts(await inRootfs('cat /proc/mounts'));
    const expected = ['/proc/sys', '/proc/sysrq-trigger', '/proc/irq', '/proc/bus', '/proc/fs'].filter((p) => existsSync(p));
    expect(expected).toContain('/proc/sys');
    for (const p of expected) {
      const m = mounts.filter((x) => x.mp === p).at(-1);
      expect(m, p).toBeDefined();
      expect(m!.opts, p).toContain('ro');
    }
  });

  it("runc's masked paths read as empty (those the host has, with content there)", async () => {
    const files = ['/proc/kcore', '/proc/keys', '/proc/timer_list', '/proc/sched_debug', '/proc/interrupts', '/proc/latency_stats', '/proc/timer_stats']
      .filter((p) => existsSync(p) && statSync(p).isFile());
    const dirs = ['/proc/acpi', '/proc/asound', '/proc/scsi', '/sys/firmware', '/sys/devices/virtual/powercap']
      .filter((p) => existsSync(p) && statSync(p).isDirectory());
    expect(files.length).toBeGreaterThan(0);
    const out = await inRootfs([
      ...files.map((f) => `echo "${f} $(cat ${f} | wc -c)"`),
      ...dirs.map((d) => `echo "${d} $(ls -A ${d} | wc -l)"`),
    ].join('; '));
    expect(out.split('\n')).toEqual([...files.map((f) => `${f} 0`), ...dirs.map((d) => `${d} 0`)]);
    // (the same read on the host is not empty, so the check can fail)
    expect(readFileSync('/proc/interrupts', 'utf8').length + readFileSync('/proc/keys', 'utf8').length).toBeGreaterThan(0);
  });

  it('/sys is read-only', async () => {
    const r = await runMinc(['-r', rootfs.dir, 'sh', '-c', "grep ' /sys ' /proc/mounts; touch /sys/minc-test; echo \"st=$?\""]);
    expect(r.stdout).toMatch(/^sysfs \/sys sysfs ro[, ]/);
    expect(r.stdout).toMatch(/st=[1-9]/);
    expect(r.stderr).toMatch(/Read-only file system/);
  });
});

describe('/tmp, /etc and the mount table', () => {
  it("/tmp is the container's own tmpfs: the host's /tmp does not show, and put_old is gone", async () => {
    const hostFile = join(scratch, 'host-only');
    writeFileSync(hostFile, 'x');
    const out = await runMinc(['sh', '-c', `grep ' /tmp ' /proc/mounts; ls -A /tmp | wc -l; ls ${hostFile} 2>&1 >/dev/null | wc -l; touch /tmp/in-container && echo ok`]);
    expect(out.exitCode).toBe(0);
    const [mount, count, missing, ok] = out.stdout.split('\n');
    expect(mount).toMatch(/^tmpfs \/tmp tmpfs .*nosuid.*nodev/);
    expect(count).toBe('0');
    expect(missing).toBe('1');
    expect(ok).toBe('ok');
    expect(existsSync('/tmp/in-container')).toBe(false);
  });

  it('/etc/mtab -> /proc/mounts', async () => {
    const out = await inRootfs('readlink /etc/mtab; cmp=$(cat /etc/mtab | wc -l); echo "$cmp $(cat /proc/mounts | wc -l)"');
    const [link, counts] = out.split('\n');
    expect(link).toBe('/proc/mounts');
    const [a, b] = counts!.split(' ');
    expect(a).toBe(b);
    expect(existsSync(join(rootfs.dir, 'etc/mtab'))).toBe(false);
  });

  it("/etc/resolv.conf is the host's resolvers, /etc/hosts names the container; the rootfs is untouched", async () => {
    const out = await inRootfs('cat /etc/resolv.conf; echo ---; cat /etc/hosts', ['--name', 'hostsname']);
    const [resolv, hosts] = out.split('---\n');
    expect(resolv!.trim()).toBe(readFileSync('/etc/resolv.conf', 'utf8').trim());
    expect(hosts).toMatch(/^127\.0\.0\.1\s+localhost$/m);
    expect(hosts).toMatch(/\shostsname$/m);
    expect(existsSync(join(rootfs.dir, 'etc/resolv.conf'))).toBe(false);
    expect(existsSync(join(rootfs.dir, 'etc/hosts'))).toBe(false);
  });

  it('a symlinked /etc/resolv.conf in the rootfs does not redirect the bind onto the host', async () => {
    const victim = join(scratch, 'victim-resolv.conf');
    writeFileSync(victim, 'untouched\n');
    symlinkSync(victim, join(rootfs.dir, 'etc/resolv.conf'));
    try {
      const out = await inRootfs('cat /etc/resolv.conf');
      expect(out).not.toContain('untouched');
      expect(readFileSync(victim, 'utf8')).toBe('untouched\n');
    } finally {
      rmSync(join(rootfs.dir, 'etc/resolv.conf'), { force: true });
    }
  });

  it('a line of the mount table that fails (a rootfs whose /etc/hosts is a directory) ends the run: 125, one minc: line naming its why and the kernel\'s words, nothing left', async () => {
    const bad = makeBusyboxRootfs();
    try {
      mkdirSync(join(bad.dir, 'etc/hosts'), { recursive: true });
      const r = await runMinc(['-r', bad.dir, 'echo', 'never']);
      expect(r.exitCode).toBe(125);
      expect(r.stdout).not.toContain('never');
      const lines = r.stderr.split('\n').filter(Boolean);
      expect(lines, r.stderr).toHaveLength(1);
      expect(lines[0]).toMatch(/^minc: Bind hosts of the temp dir \(naming the container\) on \/etc\/hosts: .*Not a directory/);
      expectNothingLeft();
    } finally {
      bad.remove();
    }
  });

  it("host mounts are absent from the container's /proc/mounts", async () => {
    const mounts = parseMounts(await inRootfs('cat /proc/mounts'));
    const allowed = /^(\/|\/tmp|\/run|\/proc(\/.*)?|\/sys|\/sys\/.*|\/dev(\/(pts|shm|mqueue))?|\/etc\/(resolv\.conf|hosts))$/;
    expect(mounts.filter((m) => !allowed.test(m.mp))).toEqual([]);
    // the host root sat on /tmp (pivot_root's put_old) until it was detached: one mount there, the container's tmpfs
    expect(mounts.filter((m) => m.mp === '/tmp' || m.mp.startsWith('/tmp/'))).toEqual([expect.objectContaining({ mp: '/tmp' })]);
    expect(mounts.filter((m) => m.mp === '/tmp')[0]).toMatchObject({ type: 'tmpfs' });
    // /run is the container's own tmpfs (host sockets there would bypass the overlay)
    expect(mounts.filter((m) => m.mp.startsWith('/run'))).toEqual([expect.objectContaining({ mp: '/run', type: 'tmpfs' })]);
    // nothing is mounted twice at / (the host root is detached, not just covered)
    expect(mounts.filter((m) => m.mp === '/')).toHaveLength(1);
  });
});

describe('--bind', () => {
  it('HOSTPATH:PATH binds a directory; writes reach the host dir', async () => {
    const src = mkdtempSync(join(scratch, 'bind-'));
    writeFileSync(join(src, 'in'), 'from-host\n');
    const out = await inRootfs('cat /data/in; echo from-container > /data/out', ['--bind', `${src}:/data`]);
    expect(out).toBe('from-host');
    expect(readFileSync(join(src, 'out'), 'utf8')).toBe('from-container\n');
    expect(existsSync(join(rootfs.dir, 'data'))).toBe(false);
  });

  it('HOSTPATH alone binds at the same path; -b repeats; a file can be bound', async () => {
    const a = mkdtempSync(join(scratch, 'same-'));
    const f = join(scratch, 'single-file');
    writeFileSync(join(a, 'x'), 'A\n');
    writeFileSync(f, 'F\n');
    const out = await inRootfs(`cat ${a}/x /deep/new/dir/file`, ['-b', a, '-b', `${f}:/deep/new/dir/file`]);
    expect(out).toBe('A\nF');
  });

  it('HOSTPATH:PATH:ro is read-only', async () => {
    const src = mkdtempSync(join(scratch, 'ro-'));
    writeFileSync(join(src, 'in'), 'readable\n');
    const r = await runMinc(['-r', rootfs.dir, '--bind', `${src}:/ro:ro`, 'sh', '-c', 'cat /ro/in; echo x > /ro/new; echo "st=$?"; rm /ro/in; echo "st=$?"']);
    expect(r.stdout).toMatch(/^readable\nst=[1-9]\nst=[1-9]$/);
    expect(r.stderr).toMatch(/Read-only file system/);
    expect(readdirSync(src)).toEqual(['in']);
  });

  it('a target through a symlink in the rootfs (/hostetc -> /etc) lands inside the container root; host /etc untouched', async () => {
    const src = mkdtempSync(join(scratch, 'sym-'));
    const key = `keyfile-${unique()}`;
    writeFileSync(join(src, key), 'BOUND\n');
    symlinkSync('/etc', join(rootfs.dir, 'hostetc'));
    const hostEtc = readdirSync('/etc').sort();
    try {
      const out = await inRootfs(`cat /hostetc/${key}; cat /etc/${key}; cat /etc/sub/${key}`,
        ['--bind', `${src}:/hostetc`, '--bind', `${src}:/hostetc/sub`]);
      expect(out).toBe('BOUND\nBOUND\nBOUND');
      expect(existsSync(`/etc/${key}`)).toBe(false);
      expect(existsSync('/etc/sub')).toBe(false);
      expect(readdirSync('/etc').sort()).toEqual(hostEtc);
      expect(existsSync(join(rootfs.dir, 'etc/sub'))).toBe(false);
    } finally {
      rmSync(join(rootfs.dir, 'hostetc'), { force: true });
    }
  });

  it('a relative symlink (/up -> ../../../../etc, /etc on the host) resolves inside the container root', async () => {
    const src = mkdtempSync(join(scratch, 'rel-'));
    const key = `minc-rel-${unique()}`;
    writeFileSync(join(src, 'f'), 'BOUND\n');
    symlinkSync('../../../../../../../../etc', join(rootfs.dir, 'up'));
    // seen from the host, the link leads to the host's /etc
    expect(realpathSync(join(rootfs.dir, 'up'))).toBe('/etc');
    try {
      const out = await inRootfs(`cat /up/${key}/f; cat /etc/${key}/f`, ['--bind', `${src}:/up/${key}`]);
      expect(out).toBe('BOUND\nBOUND');
      expect(existsSync(`/etc/${key}`)).toBe(false);
      expect(existsSync(join(rootfs.dir, 'etc', key))).toBe(false);
    } finally {
      rmSync(join(rootfs.dir, 'up'), { force: true });
      rmSync(`/etc/${key}`, { recursive: true, force: true });
    }
  });
});
