import { describe, expect, it } from 'vitest';
import { parsePort, parseSubnet, type NetConfig } from '../../../src/net/config.js';
import { baseRules, leaseUndo, netHostSteps, netNames, netPrefix, netUnshare, portRules, rulesWord, type NetInput } from '../../../src/net/plan.js';
import { HOST_FUNCTIONS } from '../../../src/host/types.js';

const TOOLS = { ip: '/sbin/ip', nsenter: '/usr/bin/nsenter', iptables: '/sbin/iptables', iptablesRestore: '/sbin/iptables-restore', flock: '/usr/bin/flock' };
const dens = (ports: string[] = []): NetConfig => ({ mode: 'dens', ports: ports.map(parsePort), subnet: parseSubnet('10.5.0.X/24'), tools: TOOLS });
const input = (net: NetConfig): NetInput => ({ net, tempdir: '/run/minc123-abcDEF', address: '10.5.0.7', stateDir: '/run/mincs/net/99', netnsIno: '99' });

describe('names', () => {
  it('come from the temp dir: the netns is its name, the veth fits IFNAMSIZ', () => {
    expect(netNames('/run/minc123-abcDEF')).toEqual({ ns: 'minc123-abcDEF', veth: 'mvabcDEF3f' });
    expect(netNames('/run/minc4194303-zzzzzz').veth.length).toBeLessThanOrEqual(15);
    const other = netNames('/srv/my containers/x');
    expect(other.ns).toMatch(/^minc-[0-9a-z]+$/);
    expect(other.veth.length).toBeLessThanOrEqual(15);
  });
});

describe('rules', () => {
  it('base: MASQUERADE for the subnet, forwarding, the DNAT chain; removal mirrors them', () => {
    const r = baseRules(parseSubnet('10.5.0.X/24'));
    expect(r.add).toContain('-A POSTROUTING -s 10.5.0.0/24 ! -o mincbr0 -j MASQUERADE');
    expect(r.add).toContain('-A PREROUTING -m addrtype --dst-type LOCAL -j MINCS_NAT');
    expect(r.add).toContain('-A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j MINCS_NAT');
    // rules in the built-in chains are deleted one by one, minc's own chains flushed and removed
    for (const line of r.add.filter((l) => /^-[AI] (?!MINCS)/.test(l))) expect(r.del).toContain(line.replace(/^-[AI] /, '-D '));
    expect(r.del).toContain('-F MINCS_NAT');
    expect(r.del).toContain('-X MINCS');
    expect(r.del).toContain('-X MINCS_NAT');
    expect(rulesWord(r.add).includes('\n')).toBe(false);
    expect(r.add.some((l) => l.includes('|'))).toBe(false);
  });

  it('per port: DNAT from the host port, accepted, hairpin MASQUERADE; tcp and udp', () => {
    const r = portRules('10.5.0.7', [parsePort('8080:80'), parsePort('5353:53:udp')]);
    expect(r.add).toContain('-A MINCS_NAT ! -i mincbr0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 10.5.0.7:80');
    expect(r.add).toContain('-A MINCS_NAT ! -i mincbr0 -p udp -m udp --dport 5353 -j DNAT --to-destination 10.5.0.7:53');
    expect(r.add).toContain('-A MINCS -d 10.5.0.7/32 ! -i mincbr0 -o mincbr0 -p tcp -m tcp --dport 80 -j ACCEPT');
    expect(r.add).toContain('-A POSTROUTING -s 10.5.0.7/32 -d 10.5.0.7/32 -p tcp -m tcp --dport 80 -j MASQUERADE');
    expect(r.del).toEqual(r.add.map((l) => l.replace(/^-A /, '-D ')));
    expect(portRules('10.5.0.7', [])).toEqual({ add: [], del: [] });
  });
});

describe('host steps', () => {
  const fns = new Set<string>(HOST_FUNCTIONS);
  const runnable = (argv: readonly unknown[]): boolean => typeof argv[0] === 'string' && (argv[0].startsWith('/') || fns.has(argv[0]));

  it('dens: bridge, netns + veth in one ip batch (its undo first), address and route, then ports', () => {
    const steps = netHostSteps(input(dens(['8080:80'])));
    expect(steps.map((s) => s.argv[0])).toEqual(['bridge_up', 'ipb', 'ipb', 'ipt_apply']);
    expect(steps[1]!.argv).toEqual(['ipb', '-', 'netns add minc123-abcDEF', 'link add mvabcDEF3f master mincbr0 up type veth peer name eth0 netns minc123-abcDEF']);
    expect(steps[1]!.undo?.argv).toEqual(['in_net', '99', '/sbin/ip', 'netns', 'del', 'minc123-abcDEF']);
    expect(steps[2]!.argv).toEqual(['ipb', 'minc123-abcDEF', 'addr add 10.5.0.7/24 dev eth0', 'link set eth0 up', 'link set lo up', 'route add default via 10.5.0.1']);
    expect(steps[3]!.undo?.argv.slice(0, 3)).toEqual(['in_net', '99', 'ipt_remove']);
    for (const s of steps) {
      expect(s.why).toBeTruthy();
      expect(runnable(s.argv)).toBe(true);
      if (s.undo) expect(runnable(s.undo.argv.slice(2))).toBe(true);
    }
    expect(leaseUndo(input(dens())).argv.slice(0, 6)).toEqual(['in_net', '99', 'lease_release', '/run/mincs/net/99', '/run/mincs/net/99/leases/10.5.0.7', 'mincbr0']);
    expect(netPrefix(dens(), '/run/minc123-abcDEF')).toEqual(['/usr/bin/nsenter', '--net=/run/netns/minc123-abcDEF', '--']);
    expect(netUnshare(dens())).toEqual([]);
  });

  it('raw: no host step, unshare --net; raw,IFACE: a named netns, IFACE in and (undo) back', () => {
    const raw: NetConfig = { mode: 'raw', ports: [], tools: { ip: '/sbin/ip' } };
    expect(netUnshare(raw)).toEqual(['--net']);
    expect(netPrefix(raw, '/run/minc1-aaaaaa')).toEqual([]);
    const iface: NetConfig = { mode: 'raw', iface: 'eth1', ports: [], tools: TOOLS };
    const steps = netHostSteps(input(iface));
    expect(steps.map((s) => s.argv.slice(0, 3))).toEqual([['/sbin/ip', 'netns', 'add'], ['/sbin/ip', 'link', 'set'], ['ipb', 'minc123-abcDEF', 'link set lo up']]);
    expect(steps[1]!.undo?.argv).toEqual(['in_net', '99', 'iface_home', 'minc123-abcDEF', 'eth1']);
    expect(netUnshare(iface)).toEqual([]);
  });
});
