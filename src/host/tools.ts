/**
 * Host tools, from the system directories only: minc runs them as root, so a
 * tool earlier in a user's PATH (~/.cargo/bin, a pyenv shim) must not stand
 * in for them.  The path found keeps its symlinks (iptables is a link to
 * xtables-nft-multi or -legacy-, which picks its mode from its name);
 * src/run/facts.ts resolves them for the tools run below the new root.
 */
import { accessSync, constants, statSync } from 'node:fs';

const SEARCH = ['/usr/sbin', '/usr/bin', '/sbin', '/bin', '/usr/local/sbin', '/usr/local/bin'];

export function findTool(name: string): string | undefined {
  for (const d of SEARCH) {
    const p = `${d}/${name}`;
    try {
      // a stat that does not throw for a missing path first: most of these miss, and a thrown error costs ~0.1 ms
      if (!statSync(p, { throwIfNoEntry: false })) continue;
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      /* next */
    }
  }
  return undefined;
}
