/**
 * minc --review: once the command has ended, the summary and a question:
 *   Apply these changes to the host? [y/N/e]
 * y applies all, e opens $EDITOR on the list and applies the lines kept,
 * anything else discards the sandbox (kept with -k).  With no terminal the
 * summary and how to apply it are printed and the dir is kept.
 */
import { spawnSync } from 'node:child_process';
import { MincError } from '../errors.js';
import { mkdirSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { readNoFollow, writeNoFollow } from '../fs/nofollow.js';
import { removeTempdir } from '../run/tempdir.js';
import { isTerminal } from '../run/tty.js';
import { select } from './apply.js';
import { applyAsCaller, note, writeAll } from './cli.js';
import { excluder } from './exclude.js';
import { reviewDir } from './journal.js';
import { applyRoot, openSandbox } from './sandbox.js';
import { scan } from './scan.js';
import { parseLine, textSummary } from './summary.js';

/** One line from stdin (a terminal: read as typed). */
function readLine(): string {
  const buf = Buffer.alloc(1);
  let s = '';
  for (;;) {
    let n: number;
    try {
      n = readSync(0, buf, 0, 1, null);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EAGAIN') continue;
      return s;
    }
    if (n === 0 || buf[0] === 0x0a) return s;
    s += String.fromCharCode(buf[0]!);
  }
}

/** The lines the user keeps of the list, through $EDITOR (VISUAL first, vi last). */
function edit(dir: string, list: Buffer): Set<string> {
  mkdirSync(reviewDir(dir), { recursive: true, mode: 0o700 });
  const file = join(reviewDir(dir), 'changes.txt');
  writeNoFollow(file, list, 0o600);
  const editor = process.env.VISUAL || process.env.EDITOR || 'vi';
  const r = spawnSync('sh', ['-c', `${editor} "$1"`, 'editor', file], { stdio: 'inherit' });
  if (r.status !== 0) throw new MincError(`the editor (${editor}) ended with status ${r.status ?? r.signal}: nothing applied`);
  const kept = new Set<string>();
  const text = readNoFollow(file, 1 << 30) ?? Buffer.alloc(0);
  let start = 0;
  for (let i = 0; i <= text.length; i++) {
    if (i < text.length && text[i] !== 0x0a) continue;
    const l = parseLine(text.subarray(start, i));
    if (l) kept.add(l.path.toString('latin1'));
    start = i + 1;
  }
  return kept;
}

/** 0, or 1 when a user's apply left some changes unapplied (src/review/userapply.ts). */
export function reviewAfterRun(dir: string, opts: { keep: boolean; exclude: readonly string[]; force: boolean }): number {
  const sb = openSandbox(dir);
  const ex = excluder(opts.exclude);
  const changes = scan(sb).filter((c) => !ex(c.path));
  const list = textSummary(changes);
  if (changes.length === 0) {
    note('the command changed nothing');
    if (!opts.keep) removeTempdir(sb.dir);
    return 0;
  }
  writeAll(1, list);
  if (!isTerminal(0)) {
    note(`kept in ${sb.dir}: apply it with minc --apply ${sb.dir} [PATH...], or throw it away with rm -rf ${sb.dir}`);
    return 0;
  }
  writeAll(2, Buffer.from('Apply these changes to the host? [y/N/e] '));
  const answer = readLine().trim().toLowerCase();
  const root = applyRoot(sb);
  let only: Set<string> | undefined;
  if (answer === 'e') only = edit(sb.dir, list);
  else if (answer !== 'y' && answer !== 'yes') {
    if (opts.keep) note(`not applied; kept in ${sb.dir}`);
    else {
      removeTempdir(sb.dir);
      note('not applied; the sandbox is gone');
    }
    return 0;
  }
  return applyAsCaller(sb, root, select(changes, { exclude: ex, only }), opts.force);
}
