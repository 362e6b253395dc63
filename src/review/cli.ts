/**
 * The review commands of minc (and marten diff): --summary, --apply, --undo,
 * and what --review does once its run has ended.  Loaded only for them.
 */
import { writeSync } from 'node:fs';
import { UsageError } from '../errors.js';
import { applyChanges, select } from './apply.js';
import { HostTree, shown } from './hostfs.js';
import { writableChanges } from './userapply.js';
import { excluder } from './exclude.js';
import { applyRoot, openSandbox, type Sandbox } from './sandbox.js';
import { scan, type Change } from './scan.js';
import { jsonSummary, textSummary } from './summary.js';
import { undo } from './undo.js';
import { rerunMapped } from '../rootless/rerun.js';

export interface ReviewArgs {
  summary?: string;
  apply?: string;
  undo?: string;
  json: boolean;
  exitCode: boolean;
  force: boolean;
  exclude: string[];
  /** --apply's PATHs */
  command: string[];
}

/** All of buf to fd (stdout may be a pipe that takes it in parts). */
export function writeAll(fd: number, buf: Buffer): void {
  for (let off = 0; off < buf.length; ) {
    try {
      off += writeSync(fd, buf, off);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EAGAIN') continue;
      if ((err as NodeJS.ErrnoException).code === 'EPIPE') return;
      throw err;
    }
  }
}

export const note = (line: string): void => writeAll(2, Buffer.from(`minc: ${line}\n`));

/** --summary DIR [--json] [--exit-code] [--exclude P]...: 1 with --exit-code when there are changes. */
export function summaryCommand(ref: string, opts: { json: boolean; exitCode: boolean; exclude: readonly string[] }): number {
  const ex = excluder(opts.exclude);
  const sb = openSandbox(ref);
  // a rootless run's upper may hold dirs a chown inside closed to the user: read it in the user's mapped namespace
  if (sb.rootless) {
    const status = rerunMapped(process.argv.slice(2));
    if (status !== null) return status;
  }
  const changes = scan(sb, { stats: false }).filter((c) => !ex(c.path));
  writeAll(1, opts.json ? Buffer.from(jsonSummary(changes)) : textSummary(changes));
  return opts.exitCode && changes.length > 0 ? 1 : 0;
}

function pathArg(p: string): Buffer {
  if (p.startsWith('-')) throw new UsageError(`--apply: '${p}' after DIR is taken as a PATH: options go before --apply DIR`);
  if (!p.startsWith('/')) throw new UsageError(`--apply: '${p}' is not an absolute path (paths are the sandbox's, from /)`);
  return Buffer.from(p.replace(/\/+/g, '/'));
}

export function reviewCommand(args: ReviewArgs): number {
  const modes = [args.summary, args.apply, args.undo].filter((m) => m !== undefined).length;
  if (modes > 1) throw new UsageError('--summary, --apply and --undo go one at a time');
  if (args.undo !== undefined) {
    if (args.command.length > 0) throw new UsageError(`--undo takes only DIR (extra: '${args.command[0]}')`);
    const sb = openSandbox(args.undo);
    const n = undo(sb.dir);
    note(`put back ${n} host path${n === 1 ? '' : 's'} as they were before the last apply`);
    return 0;
  }
  if (args.summary !== undefined) {
    if (args.command.length > 0) throw new UsageError(`--summary takes only DIR (extra: '${args.command[0]}')`);
    return summaryCommand(args.summary, args);
  }
  const ex = excluder(args.exclude);
  const paths = args.command.map(pathArg);
  const sb = openSandbox(args.apply!);
  const root = applyRoot(sb);
  const chosen = select(scan(sb), { paths, exclude: ex });
  return applyAsCaller(sb, root, chosen, args.force);
}

/**
 * Apply chosen onto root as the caller may: root applies all; a user what the
 * user may write (src/review/userapply.ts), naming each path not applied, one
 * line a path, with status 1 then.
 */
export function applyAsCaller(sb: Sandbox, root: string, chosen: readonly Change[], force: boolean): number {
  const uid = process.getuid?.() ?? 0;
  if (uid === 0) {
    const n = applyChanges(sb, root, chosen, force, !sb.rootless);
    note(`applied ${n} change${n === 1 ? '' : 's'} onto ${root} (minc --undo ${sb.dir} puts them back)`);
    return 0;
  }
  const tree = new HostTree(root);
  let mine;
  try {
    mine = writableChanges(tree, chosen, uid);
    for (const r of mine.refused) note(`not applied: ${shown(tree.hostPath(r.path))}: ${r.why}`);
  } finally {
    tree.close();
  }
  const n = mine.ok.length > 0 ? applyChanges(sb, root, mine.ok, force, false) : 0;
  if (n > 0 || mine.refused.length === 0) note(`applied ${n} change${n === 1 ? '' : 's'} onto ${root} (minc --undo ${sb.dir} puts them back)`);
  if (mine.refused.length === 0) return 0;
  note(`${mine.refused.length} change${mine.refused.length === 1 ? ' was' : 's were'} not applied: you may not write ${mine.refused.length === 1 ? 'it' : 'them'} on the host (root may: sudo minc --apply ${sb.dir})`);
  return 1;
}
