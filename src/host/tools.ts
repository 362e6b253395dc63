/**
 * Host tools of the network and cgroup setup, from the system directories
 * only (as src/run/facts.ts), but with symlinks kept: iptables is a link to
 * xtables-nft-multi (or -legacy-), which picks its mode from its name.
 */
import { accessSync, constants } from 'node:fs';
import { join } from 'node:path';

const SEARCH = ['/usr/sbin', '/usr/bin', '/sbin', '/bin', '/usr/local/sbin', '/usr/local/bin'];

export function findTool(name: string): string | undefined {
  for (const d of SEARCH) {
    const p = join(d, name);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      /* next */
    }
  }
  return undefined;
}
