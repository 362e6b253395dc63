/**
 * isatty(3) for minc's hot path.  node:tty loads node:net (~1.5 ms) for its
 * stream classes; its isatty is tty_wrap's isTTY, which minc calls directly
 * where this node exposes it (src/run/binding.ts), and node:tty's otherwise.
 */
import { quietBinding } from './binding.js';

type IsTTY = (fd: number) => boolean;

let isTTY: IsTTY | undefined;

function binding(): IsTTY {
  const fn = quietBinding<{ isTTY?: IsTTY }>('tty_wrap')?.isTTY;
  return typeof fn === 'function' ? fn : process.getBuiltinModule('node:tty').isatty;
}

export function isTerminal(fd: number): boolean {
  isTTY ??= binding();
  return Number.isInteger(fd) && fd >= 0 && isTTY(fd);
}
