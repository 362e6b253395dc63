/**
 * `minc --help`, from the same OPTIONS table the parser uses: one line per
 * option, the option and its argument name in the first column, the text
 * wrapped in the second (yargs put the argument name inside the text).
 * src/cli/manpage.ts makes man/minc.1 from the same table and EXAMPLES.
 */
import { OPTIONS, type OptionSpec } from './spec.js';

/** A few first runs, shown under Examples (and in the man page). */
export const EXAMPLES: readonly (readonly [string, string])[] = [
  ['minc', "A shell on a throwaway copy of this host's /"],
  ['minc -r ./rootfs --name box sh', 'A shell in the rootfs directory ./rootfs, hostname box'],
  ['minc -k apt-get install -y cowsay', 'Keep what the install wrote; reuse it with the printed minc -t DIR'],
  ['minc -r alpine:3 -p 8080:80 httpd -f', "A container of marten's image alpine:3, its port 80 on the host's 8080"],
  ['minc --dry-run -r ./rootfs true', 'Show every step minc would take'],
];

export const USAGE = 'minc [options] [--] [command [args...]]';
export const SUMMARY = 'run a command in a throwaway container';
export const DESCRIPTION = 'The command (default $SHELL, else /bin/sh) runs in new IPC, UTS, mount and PID namespaces '
  + 'on a copy-on-write overlay of / (or of --rootdir); what it writes is thrown away. Options after the command belong to the command.';
export const EXIT_STATUS = "The command's; 128+N when it was killed by signal N; 127 command not found; 126 not executable; "
  + '125 container setup failed; 2 bad usage; 1 other errors.';

/** `-t, --tempdir DIR` */
export const optionWords = (o: OptionSpec): string => `${o.alias ? `-${o.alias}, ` : '    '}--${o.name}${o.value ? ` ${o.value}` : ''}`;

/** text wrapped to width, lines after the first indented by indent. */
export function wrap(text: string, width: number, indent: number): string {
  const lines: string[] = [];
  let line = '';
  for (const w of text.split(/\s+/).filter(Boolean)) {
    if (line && line.length + 1 + w.length > width) {
      lines.push(line);
      line = w;
    } else line = line ? `${line} ${w}` : w;
  }
  if (line) lines.push(line);
  return lines.join(`\n${' '.repeat(indent)}`);
}

/** Rows of two columns, the first padded to its widest (up to a cap: a longer one gets a line of its own). */
export function columns(rows: readonly (readonly [string, string])[], total: number): string {
  const cap = 34;
  const first = Math.min(cap, Math.max(...rows.map(([a]) => a.length)));
  const indent = 2 + first + 2;
  return rows.map(([a, b]) => {
    const text = wrap(b, Math.max(30, total - indent), indent);
    return a.length > first ? `  ${a}\n${' '.repeat(indent)}${text}` : `  ${a.padEnd(first)}  ${text}`;
  }).join('\n');
}

export async function renderHelp(): Promise<string> {
  const total = Math.min(100, process.stdout.columns || 100);
  return [
    `minc - ${SUMMARY}`, '', `Usage: ${USAGE}`, '', wrap(DESCRIPTION, total, 0), '',
    'Options:', columns(OPTIONS.map((o) => [optionWords(o), o.describe]), total), '',
    'Examples:', columns(EXAMPLES, total), '',
    `Exit status: ${wrap(EXIT_STATUS, total - 13, 13)}`,
  ].join('\n');
}
