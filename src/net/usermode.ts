/**
 * --net dens and -p for a rootless run (issue 11): a user-mode network
 * stack instead of the bridge, veth and iptables a user cannot make.
 *
 * pasta (Debian's `passt` package) first: podman's default rootless network
 * since 5.0.  It copies the host's addresses and routes into the namespace
 * (no NAT subnet of its own), maps its traffic onto ordinary sockets of the
 * host (so it needs no second copy of a TCP stack, and is faster than slirp
 * for bulk transfers), and binds -p only on the address it is given.
 * slirp4netns (libslirp, podman's default up to 4.x) is the fallback where
 * pasta is not installed: a NAT'd 10.0.2.0/24, the host's loopback at
 * 10.0.2.2, its own DNS forwarder at 10.0.2.3, ports through its API socket.
 * `MINC_USERNET=pasta|slirp4netns` (the environment, or /etc/mincs.conf)
 * picks one, as podman's containers.conf `default_rootless_network_cmd`
 * does: a host whose pasta misbehaves (an old release, a restrictive
 * AppArmor profile) can use the other.
 *
 * Both are started by minc's own process (src/net/userstack.ts) against the
 * namespaces of the stage once they exist, with the container's host
 * loopback at the default gateway (pasta maps the gateway to the host; slirp
 * at 10.0.2.2) and -p published on 127.0.0.1 only.
 */
import { UsageError } from '../errors.js';
import type { PortMap } from './config.js';

export type UserNetKind = 'pasta' | 'slirp4netns';

/** The validated user-mode stack of a rootless --net dens run. */
export interface UserNet {
  readonly kind: UserNetKind;
  /** the program */
  readonly path: string;
  /** setpriv, for pasta's parent-death signal */
  readonly setpriv: string;
}

/** The address pasta answers DNS on (forwarded to the host's first resolver); newer pasta and podman use the same. */
export const PASTA_DNS = '169.254.1.1';

/** slirp4netns's fixed addresses (its defaults for --cidr 10.0.2.0/24). */
export const SLIRP = { address: '10.0.2.100', gateway: '10.0.2.2', dns: '10.0.2.3' } as const;

/** The interface slirp4netns makes in the namespace (pasta names its after the host's). */
export const SLIRP_IFACE = 'tap0';

/**
 * Which stack: MINC_USERNET when set (it must be installed), else pasta where
 * it is, else slirp4netns.  find looks a tool up on the host.
 */
export function chooseUserNet(setting: string | undefined, find: (name: string) => string | undefined): { kind: UserNetKind; path: string } {
  if (setting !== undefined && setting !== '') {
    if (setting !== 'pasta' && setting !== 'slirp4netns') throw new UsageError(`MINC_USERNET='${setting}': expected pasta or slirp4netns`);
    const path = find(setting);
    if (!path) throw new UsageError(`MINC_USERNET=${setting}: ${setting} is not installed (apt-get install ${setting === 'pasta' ? 'passt' : 'slirp4netns'})`);
    return { kind: setting, path };
  }
  const pasta = find('pasta');
  if (pasta) return { kind: 'pasta', path: pasta };
  const slirp = find('slirp4netns');
  if (slirp) return { kind: 'slirp4netns', path: slirp };
  throw new UsageError('--net dens without root needs a user-mode network stack: apt-get install passt (pasta), or slirp4netns');
}

/** The namespace files of the stage's process pid (as the host sees it). */
const ns = (pid: number, kind: 'net' | 'user'): string => `/proc/${pid}/ns/${kind}`;

/**
 * pasta's argv: in the foreground (minc waits for its pid file, written once
 * the namespace is configured, and its parent-death signal ties it to minc:
 * this pasta does not notice a /proc/PID/ns/net target going away), quiet,
 * the interface configured, only the ports asked for (on 127.0.0.1), none of
 * the container's loopback ports to the host or back (-T/-U none), DNS
 * answered at PASTA_DNS.
 */
export function pastaArgv(net: UserNet, pid: number, pidFile: string, ports: readonly PortMap[]): string[] {
  const fwd = (proto: 'tcp' | 'udp', flag: string): string[] => {
    const mine = ports.filter((p) => p.proto === proto);
    return mine.length ? mine.flatMap((p) => [flag, `127.0.0.1/${p.hostPort}:${p.port}`]) : [flag, 'none'];
  };
  return [net.setpriv, '--pdeathsig', 'KILL', '--', net.path, '--foreground', '--quiet', '--config-net',
    '--netns', ns(pid, 'net'), '--userns', ns(pid, 'user'),
    ...fwd('tcp', '-t'), ...fwd('udp', '-u'), '-T', 'none', '-U', 'none',
    '--dns-forward', PASTA_DNS, '--pid', pidFile];
}

/**
 * slirp4netns's argv: fd 3 says it is ready, and it exits when fd 4 (minc's
 * end of a socket pair) closes: minc's end, SIGKILL of minc included.  The
 * API socket only when ports are to be published.
 */
export function slirpArgv(net: UserNet, pid: number, apiSocket: string | null): string[] {
  return [net.path, '--configure', '--mtu=65520', '--ready-fd=3', '--exit-fd=4', ...(apiSocket ? ['--api-socket', apiSocket] : []),
    `--userns-path=${ns(pid, 'user')}`, '--netns-type=path', ns(pid, 'net'), SLIRP_IFACE];
}

/** slirp4netns API requests (one JSON object a connection) that publish the ports on 127.0.0.1. */
export const slirpForwards = (ports: readonly PortMap[]): string[] =>
  ports.map((p) => JSON.stringify({ execute: 'add_hostfwd', arguments: { proto: p.proto, host_addr: '127.0.0.1', host_port: p.hostPort, guest_port: p.port } }));

/** The container's resolv.conf: the stack's DNS forwarder (which asks the host's resolvers, loopback ones too). */
export const userNetResolvConf = (kind: UserNetKind): string => `nameserver ${kind === 'pasta' ? PASTA_DNS : SLIRP.dns}\n`;

/**
 * The first IPv4 address of the interface of the host's default route (the
 * address pasta gives the container), from /proc/net/route and the
 * interfaces' addresses; null when there is none.
 */
export function defaultRouteAddress(route: string, addresses: Record<string, readonly { family: string | number; address: string; internal: boolean }[] | undefined>): string | null {
  for (const line of route.split('\n').slice(1)) {
    const [iface, dest] = line.trim().split(/\s+/);
    if (!iface || dest !== '00000000') continue;
    const a = addresses[iface]?.find((x) => (x.family === 'IPv4' || x.family === 4) && !x.internal);
    if (a) return a.address;
  }
  return null;
}
