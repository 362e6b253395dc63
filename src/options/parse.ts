/**
 * The command line parser for minc's hot path.  Table driven by OPTIONS;
 * yargs renders --help (help.ts) but costs ~100 ms to import, more than the
 * whole container setup, so it stays off the path of a plain run.
 * Options stop at the first non-option word or at `--`: what follows is the
 * command and belongs to it, as in MINCS.
 */
import { UsageError } from '../errors.js';
import { OPTIONS, type OptionSpec } from './spec.js';
import type { ExtraArgs } from './hostopts.js';

export interface MincArgs extends ExtraArgs {
  help: boolean;
  version?: boolean;
  keep: boolean;
  tempdir?: string;
  direct: boolean;
  rootdir?: string;
  rm?: boolean;
  bind: string[];
  hide: string[];
  name?: string;
  user?: string;
  usedev: boolean;
  nocaps?: string;
  pivot: boolean;
  asPid1: boolean;
  preserveFds?: string;
  debug: boolean;
  dryRun: boolean;
  doctor: boolean;
  gc: boolean;
  /** issue 9 (src/review) */
  summary?: string;
  json: boolean;
  exitCode: boolean;
  apply?: string;
  force: boolean;
  exclude: string[];
  undo?: string;
  review: boolean;
  command: string[];
  /** issue 14: --qemu (src/vm/) */
  qemu?: boolean;
  qemuTcg?: boolean;
  qemuKernel?: string;
  /** --nopriv DIR: MINCS's rootless run in DIR, writing to it (src/options/rootless.ts) */
  nopriv?: string;
  /** --cross ARCH / --arch ARCH (src/options/cross.ts) */
  cross?: string;
}

const byName = new Map<string, OptionSpec>();
for (const o of OPTIONS) {
  byName.set(`--${o.name}`, o);
  if (o.alias) byName.set(o.alias.length > 1 ? `--${o.alias}` : `-${o.alias}`, o); // --arch for --cross
}

const camel = (name: string): string => name.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());

export function parseArgs(argv: readonly string[]): MincArgs {
  const out: Record<string, unknown> = { bind: [], command: [] };
  for (const o of OPTIONS) if (!o.value) out[camel(o.name)] = false;
  for (const o of OPTIONS) if (o.repeatable) out[camel(o.name)] = [];
  let i = 0;
  for (; i < argv.length; i++) {
    const word = argv[i]!;
    if (word === '--') { i++; break; }
    if (!word.startsWith('-') || word === '-') break;
    const eq = word.startsWith('--') ? word.indexOf('=') : -1;
    const key = eq > 0 ? word.slice(0, eq) : word;
    const spec = byName.get(key);
    if (!spec) throw new UsageError(`unknown option '${key}' (see minc --help)`);
    const field = camel(spec.name);
    if (!spec.value) {
      if (eq > 0) throw new UsageError(`option '--${spec.name}' takes no value`);
      out[field] = true;
      continue;
    }
    if (spec.valueIf) {
      // an optional value (--net [MODE]): the next word only if it is one, else it is the command
      out[field] = eq > 0 ? word.slice(eq + 1) : i + 1 < argv.length && spec.valueIf.test(argv[i + 1]!) ? argv[++i] : '';
      continue;
    }
    let value: string | undefined;
    if (eq > 0) value = word.slice(eq + 1);
    else if (i + 1 < argv.length) value = argv[++i];
    if (value === undefined || value === '') throw new UsageError(`option '${key}' needs a value: ${spec.value}`);
    if (spec.repeatable) (out[field] as string[]).push(value);
    else out[field] = value;
  }
  out.command = argv.slice(i);
  return out as unknown as MincArgs;
}
