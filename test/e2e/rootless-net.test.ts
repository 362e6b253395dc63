/**
 * The network of a rootless run (issue 11), end to end as a real user made
 * by useradd: --net raw (only lo), --net dens and -p through pasta and
 * through slirp4netns (MINC_USERNET picks it), the host's loopback services
 * at the gateway, -p on the host's 127.0.0.1 only, DNS through the stack's
 * forwarder, and nothing left behind (no pasta or slirp4netns), after a
 * SIGKILL of minc too.  (The internet is not reachable here: not tested.)
 */
import { execa } from 'execa';
import { chmodSync, symlinkSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, get, type Server } from 'node:http';
import { createSocket, type Socket } from 'node:dgram';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asUser, asUserArgv, makeUser, mincAsUser, removeUser, type TestUser } from '../helpers/rootless.js';
import { sleep, waitFor } from '../helpers/e2e.js';
import { MINC } from '../helpers/minc.js';
import { makeBusyboxRootfs } from '../helpers/rootfs.js';

let user: TestUser;
let work: string;
let server: Server;
let port: number;

const STACKS = ['pasta', 'slirp4netns'] as const;

/** minc as the user with MINC_USERNET=stack. */
const mincWith = (stack: string, args: readonly string[], opts = {}) => asUser(user, 'env', [`MINC_USERNET=${stack}`, MINC, ...args], opts);

/** Processes of the user whose command line mentions word (not zombies). */
async function userProcesses(word: string): Promise<string[]> {
  const r = await execa('ps', ['-u', String(user.uid), '-o', 'pid=,stat=,args='], { reject: false });
  return r.stdout.split('\n').filter((l) => l.includes(word) && !/^\s*\d+\s+Z/.test(l));
}

/** What is left of the user's runs: temp dirs, network stacks, fuse-overlayfs, mounts. */
async function leftovers(): Promise<string[]> {
  const dirs = readdirSync(user.runtime).filter((n) => /^minc\d+-/.test(n));
  const procs = [...(await userProcesses('pasta')), ...(await userProcesses('slirp4netns')), ...(await userProcesses('fuse-overlayfs'))];
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(`${user.runtime}/`));
  return [...dirs, ...procs, ...mounts];
}

/**
 * minc as the user, with MINC_USERNET=stack, in a mount namespace of the
 * test's own where root first ran setup (sh, with $0 set to arg): the
 * host's files as the test needs them, no one else's changed.
 */
const mincInMountNs = (setup: string, arg: string, stack: string, args: readonly string[]) =>
  execa('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', `${setup} && exec setpriv "$@"`, arg, ...asUserArgv(user, 'env', [`MINC_USERNET=${stack}`, MINC, ...args])],
    { reject: false, stdin: 'ignore', timeout: 60_000, cwd: '/' });

/** GET http://127.0.0.1:p/path from the host. */
const fetchLocal = (p: number, path: string): Promise<string> =>
  new Promise((resolve, reject) => {
    get({ host: '127.0.0.1', port: p, path, timeout: 2000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve(body));
    }).on('error', reject);
  });

/** A free tcp port on the host's loopback. */
async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const p = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return p;
}

/**
 * A DNS server on 127.0.0.1:53 that answers A queries for any name with
 * 10.9.8.7 (and others with no data).
 */
function fakeDns(): Promise<Socket> {
  const s = createSocket('udp4');
  s.on('message', (q, from) => {
    if (q.length < 17) return;
    let end = 12;
    while (end < q.length && q[end] !== 0) end += q[end]! + 1;
    const question = q.subarray(12, end + 5);
    const type = q.readUInt16BE(end + 1);
    const header = Buffer.from([q[0]!, q[1]!, 0x81, 0x80, 0, 1, 0, type === 1 ? 1 : 0, 0, 0, 0, 0]);
    const answer = type === 1 ? Buffer.from([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 9, 8, 7]) : Buffer.alloc(0);
    s.send(Buffer.concat([header, question, answer]), from.port, from.address);
  });
  return new Promise((resolve, reject) => {
    s.once('error', reject);
    s.bind(53, '127.0.0.1', () => resolve(s));
  });
}

beforeAll(async () => {
  user = await makeUser();
  // no udev on these machines: /dev/net/tun may be 0600; a standard Debian host has it 0666 (pasta and slirp4netns open it)
  if ((statSync('/dev/net/tun').mode & 0o666) !== 0o666) chmodSync('/dev/net/tun', 0o666);
  work = mkdtempSync('/var/tmp/mincs-rlnet-');
  chmodSync(work, 0o755);
  mkdirSync(`${work}/www`, { mode: 0o755 });
  writeFileSync(`${work}/www/index.html`, 'from the container\n', { mode: 0o644 });
  server = createServer((req, res) => res.end(`host loopback saw ${req.url}\n`));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  server?.close();
  if (user) await removeUser(user);
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('the network of a rootless run', () => {
  it('--net raw: only lo, up, in a network namespace of its own (sysfs its own too); the host\'s loopback is out of reach', async () => {
    const r = await mincAsUser(user, ['--net', 'raw', 'sh', '-c',
      `ip -o link | cut -d: -f2; ls /sys/class/net; readlink /proc/self/ns/net; wget -q -T 2 -O - http://127.0.0.1:${port}/raw || echo unreachable`]);
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    const [link, sys, ns, reach] = String(r.stdout).split('\n');
    expect(link!.trim()).toBe('lo');
    expect(sys).toBe('lo');
    expect(ns).toMatch(/^net:\[\d+\]$/);
    expect(ns).not.toBe(readlinkSync('/proc/self/ns/net'));
    expect(reach).toBe('unreachable');
    expect(await leftovers()).toEqual([]);
  });

  for (const stack of STACKS) {
    it(`--net dens (${stack}): the host's loopback server at the default gateway, the stack's DNS forwarder in resolv.conf`, async () => {
      const r = await mincWith(stack, ['--net', 'dens', 'sh', '-c',
        `gw=$(ip route | awk '/^default/ {print $3}'); echo "gw $gw"; wget -q -T 5 -O - "http://$gw:${port}/dens"; cat /etc/resolv.conf; ls /sys/class/net | grep -v '^lo$'`]);
      expect(r.stderr).toBe('');
      expect(r.exitCode).toBe(0);
      const out = String(r.stdout);
      expect(out).toMatch(stack === 'pasta' ? /^gw \d+\.\d+\.\d+\.\d+$/m : /^gw 10\.0\.2\.2$/m);
      expect(out).toContain('host loopback saw /dens\n');
      expect(out).toContain(stack === 'pasta' ? 'nameserver 169.254.1.1' : 'nameserver 10.0.2.3');
      expect(out.trim().split('\n').at(-1)).toBe(stack === 'pasta' ? readFileSync('/proc/net/route', 'utf8').split('\n').find((l) => l.split('\t')[1] === '00000000')!.split('\t')[0] : 'tap0');
      expect(await leftovers()).toEqual([]);
    });

    it(`-p HOST:CONTAINER (${stack}): a server in the container reached from the host at 127.0.0.1 only; SIGTERM ends it, nothing left`, async () => {
      const hostPort = await freePort();
      const run = mincWith(stack, ['-p', `${hostPort}:8080`, 'busybox', 'httpd', '-f', '-p', '8080', '-h', `${work}/www`]);
      try {
        let body = '';
        await waitFor(() => {
          fetchLocal(hostPort, '/index.html').then((b) => (body = b), () => undefined);
          return body !== '';
        }, 'the published port to answer', 20_000, 200);
        expect(body).toBe('from the container\n');
        const listening = await execa('ss', ['-Hltn', `sport = :${hostPort}`]);
        expect(listening.stdout.trim().split('\n').map((l) => l.trim().split(/\s+/)[3])).toEqual([`127.0.0.1:${hostPort}`]);
      } finally {
        run.kill('SIGTERM');
      }
      const r = await run;
      expect(r.exitCode).toBe(143);
      expect(await leftovers()).toEqual([]);
    });

    it(`DNS (${stack}): a name is resolved through the stack's forwarder by the host's resolver (a fake one on 127.0.0.1:53)`, async () => {
      const dns = await fakeDns();
      try {
        writeFileSync(`${work}/resolv.conf`, 'nameserver 127.0.0.1\n');
        // the host's /etc/resolv.conf names the fake resolver in a mount namespace of the test's own
        const r = await mincInMountNs('mount --bind "$0" /etc/resolv.conf', `${work}/resolv.conf`, stack, ['--net', 'dens', 'busybox', 'nslookup', 'mincs-dns.test']);
        expect(r.exitCode).toBe(0);
        expect(r.stdout).toMatch(/Address: 10\.9\.8\.7/);
      } finally {
        dns.close();
      }
      expect(await leftovers()).toEqual([]);
    });
  }

  it('--net dens over a root directory of the user\'s own (kernel overlayfs: one unshare enters every namespace) reaches the host\'s loopback at the gateway', async () => {
    const rootfs = makeBusyboxRootfs('/var/tmp');
    try {
      symlinkSync('busybox', `${rootfs.dir}/bin/timeout`); // (busybox wget -T crashes: timeout does it)
      await execa('chown', ['-R', `${user.uid}:${user.gid}`, rootfs.dir]);
      chmodSync(rootfs.dir, 0o755);
      const r = await mincAsUser(user, ['--net', 'dens', '-r', rootfs.dir, 'sh', '-c',
        `gw=$(ip route | awk '/^default/ {print $3}'); timeout 5 wget -q -O - "http://$gw:${port}/owndir"`]);
      expect(r.stderr).toBe('');
      expect(r.stdout).toBe('host loopback saw /owndir');
      expect(await leftovers()).toEqual([]);
    } finally {
      rootfs.remove();
    }
  });

  it('a kept temp dir (-k) reused with -t gets its network again, and keeps none of the hand-over files', async () => {
    const kept = await mincAsUser(user, ['-k', '--net', 'dens', 'true']);
    expect(kept.exitCode).toBe(0);
    const dir = /minc -t (\S+)$/m.exec(String(kept.stderr))?.[1];
    expect(dir).toBeTruthy();
    try {
      for (const stack of STACKS) {
        const again = await mincWith(stack, ['-t', dir!, '--net', 'dens', 'sh', '-c', `wget -q -T 5 -O - "http://$(ip route | awk '/^default/ {print $3}'):${port}/again"`]);
        expect(again.stdout).toBe('host loopback saw /again');
        expect(again.exitCode).toBe(0);
      }
      expect(readdirSync(dir!).filter((n) => /^net|slirp/.test(n))).toEqual([]);
    } finally {
      await asUser(user, MINC, ['--gc']);
      await execa('rm', ['-rf', dir!]);
    }
  });

  it('a SIGKILL of minc takes pasta and slirp4netns with it', async () => {
    for (const stack of STACKS) {
      const run = mincWith(stack, ['--net', 'dens', 'sleep', '60']);
      await waitFor(() => readdirSync(user.runtime).some((n) => /^minc\d+-/.test(n) && existsSync(`${user.runtime}/${n}/pid`)), 'the command to start', 20_000);
      expect((await userProcesses(stack)).length).toBe(1);
      await execa('pkill', ['-KILL', '-u', String(user.uid), '-f', `${MINC} --net dens sleep 60`], { reject: false });
      await run;
      await waitFor(() => readFileSync('/proc/self/mountinfo', 'utf8').split('\n').every((l) => !l.includes(`${user.runtime}/`)), 'mounts to go', 5000);
      await sleep(200);
      expect(await userProcesses(stack)).toEqual([]);
      expect(await userProcesses('sleep 60')).toEqual([]);
      const gc = await mincAsUser(user, ['--gc']);
      expect(gc.exitCode).toBe(0);
      expect(await leftovers()).toEqual([]);
    }
  });

  it('a stack that cannot come up is one clear line, status 125, and nothing left: -p on a host port in use', async () => {
    for (const stack of STACKS) {
      const busy = createServer();
      await new Promise<void>((r) => busy.listen(0, '127.0.0.1', () => r()));
      const taken = (busy.address() as AddressInfo).port;
      try {
        const r = await mincWith(stack, ['-p', `${taken}:80`, 'echo', 'ran']);
        expect(r.exitCode).toBe(125);
        expect(r.stdout).toBe('');
        expect(String(r.stderr).split('\n')).toHaveLength(1);
        expect(r.stderr).toMatch(new RegExp(`^minc: --net dens: ${stack} .*${taken}`));
      } finally {
        busy.close();
      }
      expect(await leftovers()).toEqual([]);
    }
  });

  it('--doctor names the stack and /dev/net/tun; a 0600 /dev/net/tun (no udev) is named as the cause, by --doctor and by a run', async () => {
    const ok = await mincAsUser(user, ['--doctor']);
    expect(ok.stdout).toMatch(/^ok   user-mode network: pasta \(\/usr\/bin\/pasta\) for --net dens and -p without root; slirp4netns is there too/m);
    expect(ok.stdout).toMatch(/^ok   \/dev\/net\/tun: mode 0666/m);
    const slirp = await mincWith('slirp4netns', ['--doctor']);
    expect(slirp.stdout).toMatch(/^ok   user-mode network: slirp4netns \(\/usr\/bin\/slirp4netns\)/m);
    // a tun node of the kernel's mode 0600 over /dev/net/tun, in the test's own mount namespace
    const tun = `${work}/tun`;
    rmSync(tun, { force: true });
    await execa('mknod', ['-m', '600', tun, 'c', '10', '200']);
    const doctor = await mincInMountNs('mount --bind "$0" /dev/net/tun', tun, 'pasta', ['--doctor']);
    expect(doctor.stdout).toMatch(/^warn \/dev\/net\/tun: mode 0600: this user cannot open it, .*a machine without udev leaves the kernel's 0600  -> chmod 0666 \/dev\/net\/tun/m);
    for (const stack of STACKS) {
      const run = await mincInMountNs('mount --bind "$0" /dev/net/tun', tun, stack, ['--net', 'dens', 'echo', 'ran']);
      expect(run.exitCode).toBe(2);
      expect(run.stdout).toBe('');
      expect(run.stderr).toBe('minc: --net dens without root: /dev/net/tun is mode 0600: this user cannot open it to make the tap device (udev makes it 0666; without udev, as root: chmod 0666 /dev/net/tun)');
    }
    expect(await leftovers()).toEqual([]);
  });

  it('--net raw,IFACE and a MINC_USERNET that is neither stack are refused with one line', async () => {
    const iface = await mincAsUser(user, ['--net', 'raw,eth0', 'true']);
    expect(iface.exitCode).toBe(2);
    expect(iface.stderr).toMatch(/^minc: --net raw,eth0 needs root/);
    const bad = await mincWith('vde', ['--net', 'dens', 'true']);
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toBe("minc: MINC_USERNET='vde': expected pasta or slirp4netns");
    expect(await leftovers()).toEqual([]);
  });
});
