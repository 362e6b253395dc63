/**
 * isatty(3) for minc's hot path.  node:tty loads node:net (~1.5 ms) for its
 * stream classes; its isatty is tty_wrap's isTTY, which minc calls directly
 * where this node exposes it (as src/run/spawn.ts does for process_wrap), and
 * node:tty's otherwise.
 */
type IsTTY = (fd: number) => boolean;

let isTTY: IsTTY | undefined;

function binding(): IsTTY {
  try {
    const b = (process as unknown as { binding?: (name: string) => { isTTY?: IsTTY } }).binding?.('tty_wrap');
    if (typeof b?.isTTY === 'function') return b.isTTY;
  } catch {
    /* not exposed by this node */
  }
  return process.getBuiltinModule('node:tty').isatty;
}

export function isTerminal(fd: number): boolean {
  isTTY ??= binding();
  return Number.isInteger(fd) && fd >= 0 && isTTY(fd);
}
