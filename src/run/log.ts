/** stderr output: errors as one `minc: ...` line; --debug lines coloured by chalk on a terminal. */
import { isatty } from 'node:tty';
import { importPackage } from '../packages.js';

let debugOn = false;
let colour: { on: string; off: string } | undefined;

/** Turn on --debug output; loads chalk only then (it is not on the path of a plain run). */
export async function enableDebug(): Promise<{ on: string; off: string } | undefined> {
  debugOn = true;
  if (isatty(2)) {
    const { default: chalk } = await importPackage<typeof import('chalk')>('chalk');
    const [on, off] = chalk.cyan('\0').split('\0') as [string, string];
    colour = { on, off };
  }
  return colour;
}

export const debugEnabled = (): boolean => debugOn;

/** A host-side step under --debug: its reason, then what runs. */
export function debug(why: string, what?: string): void {
  if (!debugOn) return;
  const on = colour?.on ?? '';
  const off = colour?.off ?? '';
  process.stderr.write(`${on}:;: ${why} ;:${off}\n${what ? `${on}+ ${what}${off}\n` : ''}`);
}

export function info(line: string): void {
  process.stderr.write(`minc: ${line}\n`);
}
