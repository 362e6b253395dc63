/**
 * --qemu on a terminal: the command's tty is the guest's hvc0 (a virtio
 * console on qemu's stdio), so the guest's line discipline does the echo,
 * ^C and the CR/LF work, and the caller's terminal must pass bytes through.
 * qemu's stdio chardev makes it raw but keeps OPOST with the caller's ONLCR
 * (every "\n" would come out as "\r\r\n"), so minc clears ONLCR before qemu
 * starts and puts the terminal back as it was after.  A resize reaches the
 * guest as "WINCH ROWS COLS" on the signal port (libexec/minc-vm-init).
 */
import { spawnSync } from 'node:child_process';

export interface TtySize {
  readonly rows: number;
  readonly cols: number;
}

/** stty on minc's stdin (the terminal); its output, or null when it failed. */
function stty(args: readonly string[]): string | null {
  const r = spawnSync('stty', args, { stdio: ['inherit', 'pipe', 'ignore'], encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

/** Clear ONLCR on the terminal; the returned function puts its settings back. */
export function passThrough(): () => void {
  const saved = stty(['-g']);
  if (saved === null) return () => {};
  stty(['-onlcr']);
  return () => {
    stty([saved]);
  };
}

/** The terminal's size now (asked, not node's cached value: it may not have seen the SIGWINCH yet), 0 when it has none. */
export function ttySize(): TtySize {
  const [cols, rows] = process.stdout.isTTY ? process.stdout.getWindowSize() : [0, 0];
  return { rows: rows ?? 0, cols: cols ?? 0 };
}

/** The line the guest's /init reads for a resize. */
export const winchLine = (size: TtySize): string => `WINCH ${size.rows} ${size.cols}\n`;
