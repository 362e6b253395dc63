/**
 * polecat's command line (MINCS's names): options, then ROOTDIR|IMAGE, then
 * the command; the first word that is not an option is the source and all
 * after it is the command's.  Pure: checked against the file system later.
 */
import { UsageError } from '../errors.js';

export type Format = 'sh' | 'tgz' | 'squashfs';

export interface PolecatOptions {
  output?: string;
  format: Format;
  script?: string;
  tempdir?: string;
  ignoreState: boolean;
  debug: boolean;
  /** paths added by hand to what the trapper finds (a dlopen'ed plugin, say) */
  add: string[];
  /** seconds the script mode's COMMAND runs under the trapper before it is ended */
  trapTime: number;
  inspect?: string;
  help: boolean;
  version: boolean;
  source?: string;
  command: string[];
}

const FORMATS: Record<string, Format> = { sh: 'sh', tgz: 'tgz', squashfs: 'squashfs', sfs: 'squashfs' };

/** -o's default, as MINCS names it, with the format's extension. */
export const defaultOutput = (f: Format): string => `polecat-out.${f === 'squashfs' ? 'sfs' : f}`;

export const USAGE = `Usage: polecat [options] ROOTDIR|IMAGE [command [args...]]
       polecat --inspect FILE
Build a self-executable containered application (a rootfs, an image, or one
command of it with what it uses) as one file.
Options:
  -o, --output FILE     Output FILE (default: polecat-out.sh, .tgz, .sfs)
  -f, --format FORMAT   sh (a launcher with a squashfs image, default), tgz, squashfs (sfs)
  -s, --script FILE     Build-script mode: FILE sets COMMAND, MKDIRS, RMDIRS and defines install_command
  -t, --tempdir DIR     Work in DIR (a new or empty directory) and keep it
      --add PATH        Add PATH of the root (a directory whole) to what the trapper finds; repeatable
      --trap-time SEC   Script mode: end COMMAND's traced run after SEC seconds (default 5)
      --ignore-state    Build even if the traced command fails
      --inspect FILE    Show a bundle's command, size, date, source and files
      --debug           Show the tools polecat runs, and stack traces
  -h, --help            Show this help
      --version         Show the version`;

export function parseArgs(argv: readonly string[]): PolecatOptions {
  const o: PolecatOptions = { format: 'sh', ignoreState: false, debug: false, add: [], trapTime: 5, help: false, version: false, command: [] };
  let i = 0;
  const value = (name: string, inline: string | undefined): string => {
    const v = inline ?? argv[++i];
    if (v === undefined || v === '') throw new UsageError(`${name} needs a value`);
    return v;
  };
  for (; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      i++;
      break;
    }
    if (!a.startsWith('-') || a === '-') break;
    const eq = a.startsWith('--') ? a.indexOf('=') : -1;
    const name = eq > 0 ? a.slice(0, eq) : a;
    const inline = eq > 0 ? a.slice(eq + 1) : undefined;
    const flag = (): true => {
      if (inline !== undefined) throw new UsageError(`${name} takes no value`);
      return true;
    };
    switch (name) {
      case '-o': case '--output': o.output = value(name, inline); break;
      case '-f': case '--format': {
        const f = value(name, inline);
        const fmt = FORMATS[f];
        if (!fmt) throw new UsageError(`${f}: unknown format (sh, tgz, squashfs or sfs)`);
        o.format = fmt;
        break;
      }
      case '-s': case '--script': o.script = value(name, inline); break;
      case '-t': case '--tempdir': o.tempdir = value(name, inline); break;
      case '--add': o.add.push(value(name, inline)); break;
      case '--trap-time': {
        const v = value(name, inline);
        if (!/^\d+(\.\d+)?$/.test(v) || Number(v) <= 0 || Number(v) > 86400) throw new UsageError(`--trap-time ${v}: give seconds (more than 0)`);
        o.trapTime = Number(v);
        break;
      }
      case '--inspect': o.inspect = value(name, inline); break;
      case '--ignore-state': o.ignoreState = flag(); break;
      case '--debug': o.debug = flag(); break;
      case '-h': case '--help': o.help = flag(); break;
      case '--version': o.version = flag(); break;
      default: throw new UsageError(`${a}: unknown option (see polecat --help)`);
    }
  }
  if (o.help || o.version) return o;
  if (o.inspect !== undefined) {
    if (i < argv.length) throw new UsageError('--inspect takes only FILE');
    return o;
  }
  const source = argv[i];
  if (source === undefined || source === '') throw new UsageError('give a ROOTDIR or IMAGE (see polecat --help)');
  o.source = source;
  o.command = argv.slice(i + 1);
  if (o.script !== undefined && o.command.length > 0) throw new UsageError('-s takes its command from the script (COMMAND), not the command line');
  if (o.command.some((w) => w.includes('\0'))) throw new UsageError('the command has a NUL byte');
  return o;
}
