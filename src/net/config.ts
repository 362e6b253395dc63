/**
 * --net / --port as data: the mode word, port maps and the container subnet
 * (MINCS's MINC_NETTMP, from the environment or /etc/mincs.conf).  Pure
 * parsing; validate (src/options/hostopts.ts) checks them against the host.
 */
import { UsageError } from '../errors.js';
import type { UserNet } from './usermode.js';

/** The words `--net` takes as its optional MODE; any other word is the command (MINCS). */
export const NET_MODE_WORD = /^(raw(,[^\s,/:]+)?|dens)$/;

export interface PortMap {
  readonly hostPort: number;
  readonly port: number;
  readonly proto: 'tcp' | 'udp';
}

export interface Subnet {
  /** network address as a 32-bit number */
  readonly network: number;
  readonly prefix: number;
  /** as given, for messages */
  readonly text: string;
}

export interface NetMode {
  readonly mode: 'raw' | 'dens';
  /** raw,IFACE: a host interface moved into the container's namespace */
  readonly iface?: string;
}

/** MINCS's default (minc-dens): 192.168.139.0/24, gateway .1. */
export const DEFAULT_SUBNET = '192.168.139.X/24';

export const BRIDGE = 'mincbr0';

export function parseNetMode(word: string): NetMode {
  if (word === '' || word === 'raw') return { mode: 'raw' };
  if (word === 'dens') return { mode: 'dens' };
  const m = /^raw,(.+)$/.exec(word);
  if (m && NET_MODE_WORD.test(word)) return { mode: 'raw', iface: m[1] };
  throw new UsageError(`--net '${word}': unknown network mode (raw, raw,IFACE or dens)`);
}

const port = (spec: string, what: string, word: string): number => {
  if (!/^\d{1,5}$/.test(word) || Number(word) < 1 || Number(word) > 65535) {
    throw new UsageError(`--port '${spec}': ${what} '${word}' is not a port number (1-65535)`);
  }
  return Number(word);
};

/** HOSTPORT[:PORT[:tcp|udp]] (MINCS: PORT defaults to HOSTPORT, the protocol to tcp). */
export function parsePort(spec: string): PortMap {
  const parts = spec.split(':');
  if (parts.length > 3 || parts.some((p) => p === '')) throw new UsageError(`--port '${spec}': expected HOSTPORT[:PORT[:udp]]`);
  const [h, c, proto = 'tcp'] = parts as [string, string | undefined, string | undefined];
  if (proto !== 'tcp' && proto !== 'udp') throw new UsageError(`--port '${spec}': protocol '${proto}' is neither tcp nor udp`);
  const hostPort = port(spec, 'host port', h);
  return { hostPort, port: c === undefined ? hostPort : port(spec, 'container port', c), proto };
}

/** Several -p: one host port (per protocol) maps to one container port only. */
export function checkPorts(ports: readonly PortMap[]): void {
  const seen = new Set<string>();
  for (const p of ports) {
    const key = `${p.hostPort}/${p.proto}`;
    if (seen.has(key)) throw new UsageError(`--port: host port ${key} is given twice`);
    seen.add(key);
  }
}

const ipNum = (text: string): number | null => {
  const o = text.split('.');
  if (o.length !== 4 || o.some((x) => !/^\d{1,3}$/.test(x) || Number(x) > 255)) return null;
  return o.reduce((n, x) => n * 256 + Number(x), 0);
};

export const ipText = (n: number): string => [24, 16, 8, 0].map((s) => (n >>> s) & 255).join('.');

/**
 * The container subnet: MINCS's template `A.B.C.X/24` or a plain CIDR
 * `A.B.C.D/P` (16 <= P <= 28).  The gateway (the bridge) is the first host,
 * containers get the following ones.
 */
export function parseSubnet(text: string): Subnet {
  const m = /^([\d.X]+)\/(\d+)$/.exec(text.trim());
  const bad = (why: string): never => {
    throw new UsageError(`subnet '${text}' (MINC_NETTMP): ${why}`);
  };
  if (!m) return bad('expected A.B.C.X/24 or A.B.C.D/PREFIX');
  const prefix = Number(m[2]);
  if (prefix < 16 || prefix > 28) bad('the prefix length must be between 16 and 28');
  const addr = ipNum(m[1]!.replace(/X/g, '0'));
  if (addr === null) return bad('not an IPv4 address');
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  return { network: (addr & mask) >>> 0, prefix, text: text.trim() };
}

export const subnetCidr = (s: Subnet): string => `${ipText(s.network)}/${s.prefix}`;
export const gateway = (s: Subnet): string => ipText(s.network + 1);

/** Container addresses in lease order: the gateway's successors up to the one before broadcast. */
export function hostAddresses(s: Subnet): string[] {
  const size = 2 ** (32 - s.prefix);
  const out: string[] = [];
  for (let i = 2; i < size - 1; i++) out.push(ipText(s.network + i));
  return out;
}

/** KEY=VALUE lines of a MINCS-style config (/etc/mincs.conf is sourced by MINCS's sh). */
export function confValue(text: string, key: string): string | undefined {
  let value: string | undefined;
  for (const line of text.split('\n')) {
    const m = /^\s*(?:export\s+)?([A-Za-z_]\w*)=(.*?)\s*$/.exec(line);
    if (m && m[1] === key) value = m[2]!.replace(/^(['"])(.*)\1$/, '$2');
  }
  return value;
}

/** The subnet setting: $MINC_NETTMP, else MINC_NETTMP in /etc/mincs.conf, else MINCS's default. */
export function subnetSetting(env: NodeJS.ProcessEnv, conf: string | null): string {
  return env.MINC_NETTMP || (conf !== null ? confValue(conf, 'MINC_NETTMP') : undefined) || DEFAULT_SUBNET;
}

/**
 * The container's resolv.conf: the host's resolvers (MINCS writes 8.8.8.8).
 * A loopback resolver (systemd-resolved's 127.0.0.53, a local dnsmasq) is not
 * reachable from another network namespace: then systemd-resolved's upstream
 * list is used when there is one, else the loopback lines are left out.
 */
export function containerResolvConf(host: string, upstream: string | null): string {
  const loop = /^\s*nameserver\s+(127\.|::1\s*$)/;
  const lines = host.split('\n');
  if (!lines.some((l) => loop.test(l))) return host;
  if (upstream !== null && /^\s*nameserver\s/m.test(upstream) && !upstream.split('\n').some((l) => loop.test(l))) return upstream;
  return lines.filter((l) => !loop.test(l)).join('\n');
}

/** Host tools the network setup runs (found by validate; a missing one is a clear error there). */
export interface NetTools {
  readonly ip: string;
  readonly nsenter?: string;
  readonly iptables?: string;
  readonly iptablesRestore?: string;
  readonly flock?: string;
}

/** The validated --net/--port settings a run carries in its Config. */
export interface NetConfig extends NetMode {
  readonly ports: readonly PortMap[];
  /** dens only */
  readonly subnet?: Subnet;
  readonly tools: NetTools;
  /** a rootless dens run: its user-mode stack (src/net/usermode.ts) */
  readonly usermode?: UserNet;
}
