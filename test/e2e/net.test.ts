/**
 * Network namespaces end to end (issue 4), every run inside a network
 * namespace this file made (see helpers/netns.ts): --net raw, raw,IFACE,
 * dens with its bridge, NAT rules, leases, published ports, and that none of
 * it is left behind.  Traffic goes only to the bridge and container
 * addresses made here, and loopback.
 */
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectNothingLeft, reuseDir, removeKept, sleep, tempdirsOf, waitFor } from '../helpers/e2e.js';
import { tempBase } from '../helpers/minc.js';
import { makeBusyboxRootfs } from '../helpers/rootfs.js';
import { TestNetns, mincNetns } from '../helpers/netns.js';

const BASE = tempBase();
let rootfs: { dir: string; remove: () => void };
let ns: TestNetns;

beforeAll(() => {
  rootfs = makeBusyboxRootfs();
  mkdirSync(join(rootfs.dir, 'www'));
  writeFileSync(join(rootfs.dir, 'www/index.html'), 'hello from the container\n');
  symlinkSync('busybox', join(rootfs.dir, 'bin/timeout'));
  ns = TestNetns.create();
});

afterAll(() => {
  try {
    ns.remove();
  } finally {
    rootfs.remove();
  }
  expectNothingLeft();
});

/** The namespace is as before any run: no minc veth or bridge, no rule, no lease, no named netns of ours. */
async function expectNetClean(pids: readonly (number | undefined)[]): Promise<void> {
  // the kernel removes a veth with its namespace, a moment after `ip netns del`
  await waitFor(() => ns.links().every((l) => l === 'lo' || l.startsWith('mtv')), 'the veths to go', 5000);
  expect(ns.links().filter((l) => l !== 'lo' && !l.startsWith('mtv'))).toEqual([]);
  expect(ns.mincRules()).toEqual([]);
  expect(ns.leases()).toEqual([]);
  expect(mincNetns(pids)).toEqual([]);
  expect(ns.sh('cat /proc/sys/net/ipv4/ip_forward').trim()).toBe('0');
}

describe('MINCS test.d', () => {
  it('00_basic/rawnet.sh: minc --net raw ip link shows one interface', async () => {
    const r = await ns.mincDone(['--net', 'raw', 'ip', 'link']);
    expect(r.exitCode).toBe(0);
    expect(r.stdout.split('\n').filter((l) => /^[0-9]+:/.test(l))).toHaveLength(1);
    expect(r.stdout).toMatch(/^1: lo: <LOOPBACK,UP,LOWER_UP>/);
  });

  it('03_network/parse.sh: --net, --net raw, --net dens run; --net nonexist fails', async () => {
    const env = { ...process.env, SHELL: 'ps' };
    const runs = [];
    for (const args of [['--net'], ['--net', 'raw'], ['--net', 'dens']]) {
      const r = await ns.mincDone(args, { env });
      runs.push(r.pid);
      expect(r.exitCode, `${args.join(' ')}: ${r.stderr}`).toBe(0);
      expect(r.stdout).toMatch(/PID/);
    }
    // MINCS: a word after --net that is no mode is the command; here there is no such command either
    const bad = await ns.mincDone(['--net', 'nonexist'], { env });
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr.trim()).toBe("minc: --net: 'nonexist' is neither a network mode (raw, raw,IFACE or dens) nor a command in the container's PATH");
    expect(tempdirsOf(bad.pid)).toEqual([]);
    runs.push(bad.pid);
    // a command that exists is run
    const cmd = await ns.mincDone(['--net', 'hostname'], { env });
    expect(cmd.exitCode, cmd.stderr).toBe(0);
    runs.push(cmd.pid);
    await expectNetClean(runs);
  });
});

describe('--net raw', () => {
  it('--net=nonexist (an explicit value) is a usage error, nothing created', async () => {
    const r = await ns.mincDone(['--net=nonexist', 'true']);
    expect(r.exitCode).toBe(2);
    expect(r.stderr.trim()).toBe("minc: --net 'nonexist': unknown network mode (raw, raw,IFACE or dens)");
    expect(tempdirsOf(r.pid)).toEqual([]);
  });

  it('raw,IFACE moves IFACE in and back; a missing IFACE is a clear error', async () => {
    ns.sh('ip link add mtv0 type veth peer name mtv1');
    try {
      const r = await ns.mincDone(['--net', 'raw,mtv0', 'ip', '-o', 'link']);
      expect(r.exitCode, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/: mtv0@/);
      expect(r.stdout).toMatch(/: lo: <LOOPBACK,UP/);
      expect(ns.links()).toContain('mtv0');
      await expectNetClean([r.pid]);
      const bad = await ns.mincDone(['--net', 'raw,nonexist0', 'true']);
      expect(bad.exitCode).toBe(2);
      expect(bad.stderr.trim()).toBe("minc: --net raw,nonexist0: no network interface 'nonexist0' here (see ip link)");
      expect(tempdirsOf(bad.pid)).toEqual([]);
    } finally {
      ns.sh('ip link del mtv0 2>/dev/null || true');
    }
  });
});

describe('--net dens', () => {
  it('gives eth0 a leased address with a default route; ipv4, hosts and resolv.conf follow', async () => {
    const r = await ns.mincDone(['-k', '--name', 'densbox', '--net', 'dens', 'sh', '-c',
      'ip -4 -o addr show eth0; ip route; echo ---; cat /etc/hosts; echo ---; cat /etc/resolv.conf']);
    expect(r.exitCode, r.stderr).toBe(0);
    const dir = reuseDir(r.stderr);
    try {
      const addr = /inet (192\.168\.139\.\d+)\/24/.exec(r.stdout)?.[1];
      expect(addr).toBeDefined();
      expect(readFileSync(join(dir, 'ipv4'), 'utf8').trim()).toBe(addr);
      expect(r.stdout).toMatch(/^default via 192\.168\.139\.1 dev eth0/m);
      const [, hosts, resolv] = r.stdout.split('---\n');
      expect(hosts).toContain(`${addr}\tdensbox`);
      const hostNs = readFileSync('/etc/resolv.conf', 'utf8').split('\n').filter((l) => /^nameserver\s/.test(l) && !/\s127\.|::1/.test(l));
      expect(resolv!.split('\n').filter((l) => /^nameserver\s/.test(l))).toEqual(hostNs);
    } finally {
      removeKept(dir);
    }
    await expectNetClean([r.pid]);
  });

  it('the subnet comes from $MINC_NETTMP (MINCS template form)', async () => {
    const r = await ns.mincDone(['--net', 'dens', 'sh', '-c', 'ip -4 -o addr show eth0; ip route'], { env: { ...process.env, MINC_NETTMP: '10.213.7.X/24' } });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/inet 10\.213\.7\.2\/24/);
    expect(r.stdout).toMatch(/default via 10\.213\.7\.1/);
    const bad = await ns.mincDone(['--net', 'dens', 'true'], { env: { ...process.env, MINC_NETTMP: '10.213.7/24' } });
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toMatch(/^minc: subnet '10\.213\.7\/24' \(MINC_NETTMP\): /);
    await expectNetClean([r.pid, bad.pid]);
  });

  it('a server inside is reached from the host through -p (two ports at once); rules go with it', async () => {
    const p = ns.minc(['-r', rootfs.dir, '-p', '8080:80', '-p', '8081:81', 'sh', '-c',
      'httpd -p 81 -h /www && exec httpd -f -p 80 -h /www']);
    const gw = '192.168.139.1';
    try {
      let body = '';
      await waitFor(() => {
        try {
          // (busybox wget -T crashes: timeout does it)
          body = ns.sh(`busybox timeout 2 busybox wget -q -O - http://${gw}:8080/ 2>/dev/null`);
        } catch {
          body = '';
        }
        return body !== '';
      }, 'the server to answer through port 8080', 15_000, 100);
      expect(body).toBe('hello from the container\n');
      expect(ns.sh(`busybox timeout 5 busybox wget -q -O - http://${gw}:8081/`)).toBe('hello from the container\n');
      expect(ns.mincRules().filter((l) => /DNAT/.test(l))).toHaveLength(2);
    } finally {
      p.kill('SIGTERM');
    }
    const r = await p;
    expect(r.exitCode).toBe(143);
    await expectNetClean([p.pid]);
  });

  it('two containers on the bridge reach each other', async () => {
    const server = ns.minc(['-r', rootfs.dir, '--net', 'dens', 'httpd', '-f', '-p', '80', '-h', '/www']);
    try {
      await waitFor(() => tempdirsOf(server.pid).some((d) => {
        try {
          return readFileSync(`${BASE}/${d}/ipv4`, 'utf8').trim() !== '';
        } catch {
          return false;
        }
      }), 'the server container to get its address');
      const addr = readFileSync(`${BASE}/${tempdirsOf(server.pid)[0]}/ipv4`, 'utf8').trim();
      let r;
      for (let i = 0; i < 50; i++) {
        r = await ns.mincDone(['-r', rootfs.dir, '--net', 'dens', 'timeout', '5', 'wget', '-q', '-O', '-', `http://${addr}/`]);
        if (r.exitCode === 0) break;
        await sleep(100);
      }
      expect(r!.exitCode, r!.stderr).toBe(0);
      expect(r!.stdout).toBe('hello from the container');
    } finally {
      server.kill('SIGTERM');
    }
    await server;
    await expectNetClean([server.pid]);
  });

  it('20 concurrent runs get 20 distinct addresses and leave no veth, netns, lease or rule', async () => {
    const runs = Array.from({ length: 20 }, () => ns.minc(['-r', rootfs.dir, '--net', 'dens', 'sh', '-c', 'ip -4 -o addr show eth0; sleep 4'])); // (long enough that all 20 hold their lease at once, even on a loaded machine)
    const results = await Promise.all(runs);
    const addrs = results.map((r) => {
      expect(r.exitCode, r.stderr).toBe(0);
      return /inet (\S+)\/24/.exec(r.stdout)?.[1];
    });
    expect(addrs.every(Boolean)).toBe(true);
    expect(new Set(addrs).size).toBe(20);
    await expectNetClean(runs.map((r) => r.pid));
  });

  it('a host step that fails ends the run naming it, and undoes what was made (an interface mincbr0 that is no bridge)', async () => {
    ns.sh('ip link add mincbr0 type veth peer name mtv9');
    try {
      const r = await ns.mincDone(['-p', '8080:80', 'true']);
      expect(r.exitCode).toBe(125);
      expect(r.stderr).toMatch(/^minc: mincbr0 exists and is not a bridge \(minc did not make it\)$/m);
      expect(r.stderr).toMatch(/^minc: The bridge mincbr0 .*: 'bridge_up .*' failed \(status 1\)$/m);
      expect(tempdirsOf(r.pid)).toEqual([]);
      expect(ns.links()).toContain('mincbr0');
      expect(ns.leases()).toEqual([]);
      expect(ns.mincRules()).toEqual([]);
      expect(mincNetns([r.pid])).toEqual([]);
    } finally {
      ns.sh('ip link del mincbr0 2>/dev/null || true');
    }
    await expectNetClean([]);
  });

  it('SIGTERM while the host side is being set up ends the run with 143 and undoes what was made', async () => {
    // hold the lease lock: the first container's host stage waits for it in bridge_up
    mkdirSync(ns.stateDir, { recursive: true });
    const holder = execa('flock', [`${ns.stateDir}/lock`, 'sleep', '1'], { reject: false });
    await sleep(100);
    const p = ns.minc(['-p', '8080:80', 'true']);
    await waitFor(() => ns.leases().length === 1, 'the lease', 5000);
    await sleep(100);
    p.kill('SIGTERM');
    await holder;
    const r = await p;
    expect(r.exitCode).toBe(143);
    expect(tempdirsOf(p.pid)).toEqual([]);
    await expectNetClean([p.pid]);
  });

  it('bad --port values are usage errors, nothing created', async () => {
    for (const [args, msg] of [
      [['-p', '0', 'true'], "minc: --port '0': host port '0' is not a port number (1-65535)"],
      [['-p', '80:80:sctp', 'true'], "minc: --port '80:80:sctp': protocol 'sctp' is neither tcp nor udp"],
      [['-p', '80', '-p', '80:81', 'true'], 'minc: --port: host port 80/tcp is given twice'],
      [['--net', 'raw', '-p', '80', 'true'], 'minc: --port publishes a port through the bridge: it needs --net dens, not --net raw'],
    ] as const) {
      const r = await ns.mincDone(args);
      expect(r.exitCode).toBe(2);
      expect(r.stderr.trim()).toBe(msg);
      expect(tempdirsOf(r.pid)).toEqual([]);
    }
    expect(ns.leases()).toEqual([]);
  });
});
