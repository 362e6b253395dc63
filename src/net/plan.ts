/**
 * Pure functions from the network settings to host steps (MINCS's minc-dens
 * and minc-exec, with iproute2 and iptables-restore batches instead of a
 * command per setting):
 *  - raw,IFACE: a named network namespace, IFACE moved in, back on exit;
 *  - dens: the bridge with the gateway address and the base NAT rules (once
 *    per network namespace, under the lease lock), a veth pair per container
 *    with eth0, the leased address and the default route inside, and DNAT
 *    rules per published port.
 * A plain --net raw needs no host step: unshare makes the namespace.
 */
import { basename } from 'node:path';
import type { Step } from '../plan/types.js';
import type { HostStep } from '../host/types.js';
import { BRIDGE, gateway, subnetCidr, type NetConfig, type PortMap, type Subnet } from './config.js';

export interface NetNames {
  /** the named network namespace (/run/netns/NAME) */
  readonly ns: string;
  /** the host end of the veth pair (at most 15 characters) */
  readonly veth: string;
}

/** Names derived from the temp dir minc<pid>-XXXXXX: unique while the dir exists. */
export function netNames(tempdir: string): NetNames {
  const base = basename(tempdir);
  const m = /^minc(\d+)-(\w{6})$/.exec(base);
  if (m) return { ns: base, veth: `mv${m[2]}${Number(m[1]).toString(36)}`.slice(0, 15) };
  let h = 5381;
  for (const c of tempdir) h = ((h * 33) ^ c.charCodeAt(0)) >>> 0;
  const id = h.toString(36);
  return { ns: `minc-${id}`, veth: `mv${id}`.slice(0, 15) };
}

export interface NetInput {
  readonly net: NetConfig;
  readonly tempdir: string;
  /** the container's leased address (dens) */
  readonly address: string;
  /** per network namespace state: lock, leases/, up, ip_forward */
  readonly stateDir: string;
  /** inode of the network namespace minc runs in (undos run only there) */
  readonly netnsIno: string;
}

export interface Rules {
  /** iptables-restore --noflush lines that add them */
  readonly add: readonly string[];
  /** and the lines that remove them */
  readonly del: readonly string[];
}

/**
 * Rules as one word for libexec/minc-host's ipt_* functions: lines joined by
 * '|' (no rule has one), so every undo stays on one line of TEMPDIR/undo.
 */
export const rulesWord = (lines: readonly string[]): string => lines.join('|');

const table = (name: string, lines: readonly string[]): string[] => (lines.length ? [`*${name}`, ...lines, 'COMMIT'] : []);

/** MASQUERADE for the subnet, forwarding to and from the bridge, the DNAT chain for published ports (MINCS's setup_nat). */
export function baseRules(subnet: Subnet, br = BRIDGE): Rules {
  const cidr = subnetCidr(subnet);
  const fwd = [`FORWARD -i ${br} -j ACCEPT`, `FORWARD -o ${br} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`, `FORWARD -o ${br} -j MINCS`];
  const nat = [
    `POSTROUTING -s ${cidr} ! -o ${br} -j MASQUERADE`,
    'PREROUTING -m addrtype --dst-type LOCAL -j MINCS_NAT',
    'OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j MINCS_NAT',
  ];
  return {
    add: [
      ...table('filter', [':MINCS - [0:0]', ...fwd.map((r) => `-I ${r}`)]),
      ...table('nat', [':MINCS_NAT - [0:0]', `-A MINCS_NAT -i ${br} -j RETURN`, ...nat.map((r) => `-A ${r}`)]),
    ],
    del: [
      ...table('filter', [...fwd.map((r) => `-D ${r}`), '-F MINCS', '-X MINCS']),
      ...table('nat', [...nat.map((r) => `-D ${r}`), '-F MINCS_NAT', '-X MINCS_NAT']),
    ],
  };
}

/**
 * Per published port (MINCS's map_port): DNAT of the host port to the
 * container, accepted on the way in, and masqueraded when the container
 * reaches itself through the host address.
 */
export function portRules(address: string, ports: readonly PortMap[], br = BRIDGE): Rules {
  if (ports.length === 0) return { add: [], del: [] };
  const m = (p: PortMap): string => `-p ${p.proto} -m ${p.proto}`;
  const nat = ports.flatMap((p) => [
    ['MINCS_NAT', `! -i ${br} ${m(p)} --dport ${p.hostPort} -j DNAT --to-destination ${address}:${p.port}`],
    ['POSTROUTING', `-s ${address}/32 -d ${address}/32 ${m(p)} --dport ${p.port} -j MASQUERADE`],
  ]);
  const filter = ports.map((p) => ['MINCS', `-d ${address}/32 ! -i ${br} -o ${br} ${m(p)} --dport ${p.port} -j ACCEPT`]);
  const lines = (op: string, rules: string[][]): string[] => rules.map(([chain, r]) => `${op} ${chain} ${r}`);
  return {
    add: [...table('filter', lines('-A', filter)), ...table('nat', lines('-A', nat))],
    del: [...table('filter', lines('-D', filter)), ...table('nat', lines('-D', nat))],
  };
}

const s = (why: string, ...argv: string[]): Step => ({ why, argv });
const inNet = (ino: string, why: string, ...argv: string[]): Step => s(why, 'in_net', ino, ...argv);

/** The lease file of address under the state dir. */
export const leaseFile = (stateDir: string, address: string): string => `${stateDir}/leases/${address}`;

/** The undo of a lease (written by minc right after it takes the lease): give it back; the last one out takes the bridge down. */
export function leaseUndo(input: NetInput): Step {
  const { net, stateDir, netnsIno, address } = input;
  return inNet(netnsIno, `Give back the address ${address}; the last container to leave removes ${BRIDGE} and the base NAT rules`,
    'lease_release', stateDir, leaseFile(stateDir, address), BRIDGE, rulesWord(baseRules(net.subnet!).del));
}

/** Host steps for --net raw,IFACE and --net dens / --port. */
export function netHostSteps(input: NetInput): HostStep[] {
  const { net, tempdir, netnsIno } = input;
  const { ns, veth } = netNames(tempdir);
  if (net.mode === 'raw' && !net.iface) return []; // unshare --net makes it; nothing on the host
  const ip = net.tools.ip;
  const steps: HostStep[] = [];
  if (net.mode === 'dens') {
    const subnet = net.subnet!;
    const base = baseRules(subnet);
    steps.push(s(`The bridge ${BRIDGE} (${gateway(subnet)}/${subnet.prefix}), NAT of ${subnetCidr(subnet)} and ip_forward, unless there already (made under the lease lock)`,
      'bridge_up', input.stateDir, BRIDGE, `${gateway(subnet)}/${subnet.prefix}`, rulesWord(base.add), rulesWord(base.del)));
  }
  const nsUndo = inNet(netnsIno, `Remove the network namespace ${ns}${net.mode === 'dens' ? ` (the kernel removes the veth ${veth} with it)` : ''}`,
    ip, 'netns', 'del', ns);
  if (net.mode === 'dens') {
    steps.push({
      ...s(`A network namespace for the container (${ns}) and a veth pair: ${veth} on ${BRIDGE}, eth0 in the container`,
        'ipb', '-', `netns add ${ns}`, `link add ${veth} master ${BRIDGE} up type veth peer name eth0 netns ${ns}`),
      undo: nsUndo,
    });
  } else {
    steps.push({ ...s(`A network namespace for the container: ${ns}`, ip, 'netns', 'add', ns), undo: nsUndo });
  }
  if (net.mode === 'raw' && net.iface) {
    steps.push({
      ...s(`Move ${net.iface} into the container's network namespace`, ip, 'link', 'set', net.iface, 'netns', ns),
      undo: inNet(netnsIno, `Move ${net.iface} back`, 'iface_home', ns, net.iface),
    });
    steps.push(s('Bring up lo in the container', 'ipb', ns, 'link set lo up'));
  }
  if (net.mode === 'dens') {
    const subnet = net.subnet!;
    steps.push(
      s(`eth0 gets ${input.address}/${subnet.prefix}, default route via ${gateway(subnet)}; lo up`, 'ipb', ns,
        `addr add ${input.address}/${subnet.prefix} dev eth0`, 'link set eth0 up', 'link set lo up', `route add default via ${gateway(subnet)}`),
    );
    if (net.ports.length > 0) {
      const rules = portRules(input.address, net.ports);
      const list = net.ports.map((p) => `${p.hostPort}->${p.port}/${p.proto}`).join(', ');
      steps.push({
        ...s(`Publish ports ${list} (DNAT to ${input.address})`, 'ipt_apply', rulesWord(rules.add)),
        undo: inNet(netnsIno, `Remove the DNAT rules of ${list}`, 'ipt_remove', rulesWord(rules.del)),
      });
    }
  }
  return steps;
}

/** Launcher words before unshare: enter the named network namespace. */
export function netPrefix(net: NetConfig, tempdir: string): string[] {
  if (net.mode === 'raw' && !net.iface) return [];
  return [net.tools.nsenter!, `--net=/run/netns/${netNames(tempdir).ns}`, '--'];
}

/** A plain --net raw: unshare makes the namespace (nothing on the host to undo). */
export const netUnshare = (net: NetConfig): string[] => (net.mode === 'raw' && !net.iface ? ['--net'] : []);

/** The line /etc/hosts gets for the container's own name. */
export const hostsLine = (address: string, name: string): string => `${address}\t${name}\n`;

/** For --dry-run and --debug: the lease as a readable step. */
export const leaseStep = (input: NetInput): Step =>
  s(`Lease an address of ${input.net.subnet?.text}: the first free ${input.stateDir}/leases/ADDR, made with O_EXCL (no lock needed)`,
    'lease', input.address);
