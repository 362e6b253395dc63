import { describe, expect, it } from 'vitest';
import { chooseUserNet, defaultRouteAddress, pastaArgv, slirpArgv, slirpForwards, userNetResolvConf } from '../../../src/net/usermode.js';
import { UsageError } from '../../../src/errors.js';

const both = (n: string): string | undefined => `/usr/bin/${n}`;
const only = (have: string) => (n: string): string | undefined => (n === have ? `/usr/bin/${n}` : undefined);
const pasta = { kind: 'pasta' as const, path: '/usr/bin/pasta', setpriv: '/usr/bin/setpriv' };
const slirp = { kind: 'slirp4netns' as const, path: '/usr/bin/slirp4netns', setpriv: '/usr/bin/setpriv' };

describe('the user-mode stack of a rootless --net dens', () => {
  it('is pasta where installed, else slirp4netns; MINC_USERNET picks one, which must be installed', () => {
    expect(chooseUserNet(undefined, both)).toEqual({ kind: 'pasta', path: '/usr/bin/pasta' });
    expect(chooseUserNet('', only('slirp4netns'))).toEqual({ kind: 'slirp4netns', path: '/usr/bin/slirp4netns' });
    expect(chooseUserNet('slirp4netns', both).kind).toBe('slirp4netns');
    expect(() => chooseUserNet('pasta', only('slirp4netns'))).toThrow(/pasta is not installed \(apt-get install passt\)/);
    expect(() => chooseUserNet('vde', both)).toThrow(UsageError);
    expect(() => chooseUserNet(undefined, () => undefined)).toThrow(/apt-get install passt \(pasta\), or slirp4netns/);
  });

  it("pasta: the stage's namespaces, in the foreground under a parent-death signal, only the ports asked for, on 127.0.0.1", () => {
    const a = pastaArgv(pasta, 42, '/t/net.pid', []);
    expect(a.slice(0, 5)).toEqual(['/usr/bin/setpriv', '--pdeathsig', 'KILL', '--', '/usr/bin/pasta']);
    expect(a.join(' ')).toContain('--netns /proc/42/ns/net --userns /proc/42/ns/user -t none -u none -T none -U none --dns-forward 169.254.1.1 --pid /t/net.pid');
    const p = pastaArgv(pasta, 42, '/t/net.pid', [{ hostPort: 8080, port: 80, proto: 'tcp' }, { hostPort: 5353, port: 53, proto: 'udp' }, { hostPort: 8443, port: 443, proto: 'tcp' }]).join(' ');
    expect(p).toContain('-t 127.0.0.1/8080:80 -t 127.0.0.1/8443:443 -u 127.0.0.1/5353:53 -T none');
  });

  it('slirp4netns: ready and exit fds, the API socket only with ports, forwards on 127.0.0.1', () => {
    expect(slirpArgv(slirp, 7, null)).toEqual(['/usr/bin/slirp4netns', '--configure', '--mtu=65520', '--ready-fd=3', '--exit-fd=4', '--userns-path=/proc/7/ns/user', '--netns-type=path', '/proc/7/ns/net', 'tap0']);
    expect(slirpArgv(slirp, 7, '/t/slirp.sock')).toContain('--api-socket');
    expect(slirpForwards([{ hostPort: 8080, port: 80, proto: 'udp' }]).map((r) => JSON.parse(r))).toEqual([
      { execute: 'add_hostfwd', arguments: { proto: 'udp', host_addr: '127.0.0.1', host_port: 8080, guest_port: 80 } },
    ]);
  });

  it("resolv.conf names the stack's forwarder; the container's address is that of the host's default route", () => {
    expect(userNetResolvConf('pasta')).toBe('nameserver 169.254.1.1\n');
    expect(userNetResolvConf('slirp4netns')).toBe('nameserver 10.0.2.3\n');
    const route = 'Iface\tDestination\tGateway\nwlan0\t0001A8C0\t00000000\neth0\t00000000\t0102A8C0\n';
    const ifs = { eth0: [{ family: 'IPv6', address: 'fe80::1', internal: false }, { family: 'IPv4', address: '192.0.2.2', internal: false }], wlan0: [{ family: 'IPv4', address: '10.0.0.5', internal: false }] };
    expect(defaultRouteAddress(route, ifs)).toBe('192.0.2.2');
    expect(defaultRouteAddress('Iface\tDestination\n', ifs)).toBeNull();
  });
});
