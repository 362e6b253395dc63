/** stderr output: errors as one `minc: ...` line; --debug lines coloured by chalk on a terminal. */
import { writeSync } from 'node:fs';
import { importPackage } from '../cli/loaded.js';
import { isTerminal } from './tty.js';

let debugOn = false;
let colour: { on: string; off: string } | undefined;

/** Turn on --debug output; loads chalk only then (it is not on the path of a plain run). */
export async function enableDebug(): Promise<{ on: string; off: string } | undefined> {
  debugOn = true;
  if (isTerminal(2)) {
    const { default: chalk } = await importPackage<typeof import('chalk')>('chalk');
    const [on, off] = chalk.cyan('\0').split('\0') as [string, string];
    colour = { on, off };
  }
  return colour;
}

export const debugEnabled = (): boolean => debugOn;

const gone = new Set<number>();

/**
 * All of text to fd 1 or 2, written straight to the descriptor: node's
 * process.stderr would throw an uncaught EPIPE once a reader is gone
 * (`minc --debug ... 2>&1 | head`) and end minc before its cleanup.  A
 * descriptor whose reader is gone is dropped; the run goes on.
 */
export function writeFd(fd: 1 | 2, text: string): void {
  if (gone.has(fd)) return;
  let buf = Buffer.from(text);
  for (let again = 0; buf.length > 0; ) {
    try {
      buf = buf.subarray(writeSync(fd, buf));
    } catch (err) {
      // a non-blocking descriptor shared with another process: try again a while
      if ((err as NodeJS.ErrnoException).code === 'EAGAIN' && again++ < 10_000) continue;
      gone.add(fd);
      return;
    }
  }
}

/** A host-side step under --debug: its reason, then what runs. */
export function debug(why: string, what?: string): void {
  if (!debugOn) return;
  const on = colour?.on ?? '';
  const off = colour?.off ?? '';
  writeFd(2, `${on}:;: ${why} ;:${off}\n${what ? `${on}+ ${what}${off}\n` : ''}`);
}

export function info(line: string): void {
  writeFd(2, `minc: ${line}\n`);
}
