import { describe, expect, it } from 'vitest';
import { UsageError } from '../../../src/errors.js';
import {
  NET_MODE_WORD, checkPorts, confValue, containerResolvConf, gateway, hostAddresses, ipText, parseNetMode, parsePort, parseSubnet, subnetCidr, subnetSetting,
} from '../../../src/net/config.js';

const usage = (f: () => unknown): string => {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(UsageError);
    return (e as Error).message;
  }
  throw new Error('no UsageError');
};

describe('--net MODE', () => {
  it('takes raw, raw,IFACE and dens as its word; anything else is the command (MINCS)', () => {
    for (const w of ['raw', 'raw,eth1', 'raw,enp0s3', 'dens']) expect(NET_MODE_WORD.test(w)).toBe(true);
    for (const w of ['nonexist', 'ps', 'raw,', 'raw,a,b', 'dens2', '-p', 'raw,a/b']) expect(NET_MODE_WORD.test(w)).toBe(false);
  });

  it('parses modes; no word is raw; an unknown one is a usage error', () => {
    expect(parseNetMode('')).toEqual({ mode: 'raw' });
    expect(parseNetMode('raw')).toEqual({ mode: 'raw' });
    expect(parseNetMode('raw,eth1')).toEqual({ mode: 'raw', iface: 'eth1' });
    expect(parseNetMode('dens')).toEqual({ mode: 'dens' });
    expect(usage(() => parseNetMode('nonexist'))).toBe("--net 'nonexist': unknown network mode (raw, raw,IFACE or dens)");
  });
});

describe('--port HOSTPORT[:PORT[:udp]]', () => {
  it('defaults PORT to HOSTPORT and the protocol to tcp', () => {
    expect(parsePort('8080')).toEqual({ hostPort: 8080, port: 8080, proto: 'tcp' });
    expect(parsePort('8080:80')).toEqual({ hostPort: 8080, port: 80, proto: 'tcp' });
    expect(parsePort('5353:53:udp')).toEqual({ hostPort: 5353, port: 53, proto: 'udp' });
    expect(parsePort('80:80:tcp')).toEqual({ hostPort: 80, port: 80, proto: 'tcp' });
  });

  it('rejects bad ports and protocols, and a host port given twice', () => {
    expect(usage(() => parsePort('0'))).toMatch(/host port '0' is not a port number/);
    expect(usage(() => parsePort('70000'))).toMatch(/not a port number/);
    expect(usage(() => parsePort('80:x'))).toMatch(/container port 'x'/);
    expect(usage(() => parsePort('80:80:sctp'))).toMatch(/protocol 'sctp'/);
    expect(usage(() => parsePort('1:2:3:4'))).toMatch(/expected HOSTPORT/);
    expect(usage(() => parsePort(':80'))).toMatch(/expected HOSTPORT/);
    expect(usage(() => checkPorts([parsePort('80'), parsePort('80:81')]))).toBe('--port: host port 80/tcp is given twice');
    expect(() => checkPorts([parsePort('53:53'), parsePort('53:53:udp')])).not.toThrow();
  });
});

describe('the subnet (MINC_NETTMP)', () => {
  it("reads MINCS's template form and CIDR", () => {
    const s = parseSubnet('192.168.139.X/24');
    expect(subnetCidr(s)).toBe('192.168.139.0/24');
    expect(gateway(s)).toBe('192.168.139.1');
    const a = hostAddresses(s);
    expect(a[0]).toBe('192.168.139.2');
    expect(a.at(-1)).toBe('192.168.139.254');
    expect(a).toHaveLength(253);
    const c = parseSubnet('10.88.4.77/22');
    expect(subnetCidr(c)).toBe('10.88.4.0/22');
    expect(hostAddresses(c).at(-1)).toBe('10.88.7.254');
    expect(ipText(0xc0a88b01)).toBe('192.168.139.1');
  });

  it('rejects what is not a subnet', () => {
    expect(usage(() => parseSubnet('10.213.7/24'))).toMatch(/^subnet '10\.213\.7\/24' \(MINC_NETTMP\): not an IPv4 address/);
    expect(usage(() => parseSubnet('10.1.2.3'))).toMatch(/expected/);
    expect(usage(() => parseSubnet('10.1.2.0/8'))).toMatch(/prefix length/);
    expect(usage(() => parseSubnet('300.1.2.0/24'))).toMatch(/not an IPv4 address/);
  });

  it('comes from the environment, else /etc/mincs.conf, else the MINCS default', () => {
    const conf = '# mincs\nMINCS_DIR=/var/lib/mincs\nexport MINC_NETTMP="10.9.8.X/24"\n';
    expect(confValue(conf, 'MINC_NETTMP')).toBe('10.9.8.X/24');
    expect(subnetSetting({ MINC_NETTMP: '10.1.1.X/24' }, conf)).toBe('10.1.1.X/24');
    expect(subnetSetting({}, conf)).toBe('10.9.8.X/24');
    expect(subnetSetting({}, "MINC_NETTMP='10.7.0.0/16'")).toBe('10.7.0.0/16');
    expect(subnetSetting({}, null)).toBe('192.168.139.X/24');
    expect(subnetSetting({}, 'OTHER=1')).toBe('192.168.139.X/24');
  });
});

describe("the container's resolv.conf", () => {
  it("is the host's when its resolvers are reachable from another namespace", () => {
    const host = 'search example.org\nnameserver 10.0.0.53\nnameserver 10.0.0.54\n';
    expect(containerResolvConf(host, null)).toBe(host);
  });

  it("uses systemd-resolved's upstream list instead of its 127.0.0.53 stub", () => {
    const stub = 'nameserver 127.0.0.53\noptions edns0 trust-ad\nsearch lan\n';
    const up = 'nameserver 192.168.1.1\nsearch lan\n';
    expect(containerResolvConf(stub, up)).toBe(up);
    expect(containerResolvConf(stub, null)).toBe('options edns0 trust-ad\nsearch lan\n');
    expect(containerResolvConf('nameserver ::1\nnameserver 9.9.9.9\n', null)).toBe('nameserver 9.9.9.9\n');
  });
});
