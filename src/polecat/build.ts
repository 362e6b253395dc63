/**
 * One build: check the input, make the work dir, find what goes in (the
 * trapper, the script's install, or the whole root), stage it, write the
 * bundle to a temp file beside the output and rename it into place.
 * Whatever ends the build, the work dir and the temp file go.
 */
import { chmodSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { MincError, UsageError } from '../errors.js';
import { copyEntries, resolveEntries, withParents } from './collect.js';
import { writeBundle, type Payload } from './formats.js';
import { defaultOutput, type PolecatOptions } from './options.js';
import { runScript } from './script.js';
import { mountLayers, resolveSource, unmountAll, type Source } from './source.js';
import { prepareTools } from './tools.js';
import { trapCommand } from './trapper.js';

const PATH_DIRS = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

/** The command as the root's PATH finds it, or a usage error naming it. */
export function checkCommand(root: string, cmd: string): void {
  const paths = cmd.includes('/') ? [cmd.startsWith('/') ? cmd : `/${cmd}`] : PATH_DIRS.map((d) => `${d}/${cmd}`);
  for (const p of paths) {
    const r = resolveEntries(root, Buffer.from(p));
    if (r?.st.isFile() && (r.st.mode & 0o111) !== 0) return;
  }
  throw new UsageError(`${cmd}: command not found in the root`);
}

function checkOutput(out: string): void {
  try {
    if (statSync(out).isDirectory()) throw new UsageError(`${out}: is a directory (give a file name with -o)`);
  } catch (err) {
    if (err instanceof UsageError) throw err;
  }
  try {
    if (!statSync(dirname(out)).isDirectory()) throw new Error();
  } catch {
    throw new UsageError(`${out}: no such directory ${dirname(out)}`);
  }
}

/** -t DIR: new or empty, made 0700; else a fresh dir under $TMPDIR. */
function makeWork(tempdir?: string): { dir: string; keep: boolean } {
  if (tempdir === undefined) return { dir: mkdtempSync(join(tmpdir(), 'polecat-')), keep: false };
  const dir = resolve(tempdir);
  try {
    const st = lstatSync(dir);
    if (!st.isDirectory() || readdirSync(dir).length > 0) throw new UsageError(`-t ${tempdir}: not a new or empty directory`);
  } catch (err) {
    if (err instanceof UsageError) throw err;
    mkdirSync(dir, { mode: 0o700 });
  }
  chmodSync(dir, 0o700);
  return { dir, keep: true };
}

function sourceDateEpoch(): number | undefined {
  const v = process.env.SOURCE_DATE_EPOCH;
  if (v === undefined || v === '') return undefined;
  if (!/^\d{1,12}$/.test(v)) throw new UsageError(`SOURCE_DATE_EPOCH=${v}: not a number of seconds`);
  return Number(v);
}

/** The newest mtime (seconds) of the files and links below dir: the build's date when SOURCE_DATE_EPOCH is unset. */
function newestMtime(dir: string, depth: number): number {
  let max = 0;
  const walk = (d: string, left: number): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) {
        if (left > 0) walk(p, left - 1);
      } else max = Math.max(max, Math.trunc(lstatSync(p).mtimeMs / 1000));
    }
  };
  walk(dir, depth);
  return max;
}

/** Directories a container needs as mount points, made where the files found did not bring them. */
function baseDirs(stage: string): void {
  for (const [d, mode] of [['proc', 0o555], ['sys', 0o555], ['dev', 0o755], ['etc', 0o755], ['tmp', 0o1777]] as const) {
    try {
      lstatSync(join(stage, d));
    } catch {
      mkdirSync(join(stage, d));
      chmodSync(join(stage, d), mode);
    }
  }
}

/** A path of MKDIRS/RMDIRS inside the stage: no `..`, nothing outside. */
function inStage(stage: string, p: string): string {
  const parts = p.split('/').filter((c) => c !== '' && c !== '.');
  if (parts.length === 0 || parts.includes('..')) throw new UsageError(`${p}: MKDIRS and RMDIRS take paths inside the root, without '..'`);
  return join(stage, ...parts);
}

export async function build(o: PolecatOptions, onWork: (cleanup: () => void) => void): Promise<string> {
  const output = resolve(o.output ?? defaultOutput(o.format));
  checkOutput(output);
  const src: Source = resolveSource(o.source!);
  const epochSet = sourceDateEpoch();
  const work = makeWork(o.tempdir);
  const tmpOut = `${output}.polecat-${process.pid}.tmp`;
  const cleanup = (): void => {
    rmSync(tmpOut, { force: true });
    unmountAll();
    if (!work.keep) rmSync(work.dir, { recursive: true, force: true });
  };
  onWork(cleanup);
  try {
    let root = src.dir ?? (await mountLayers(src.layers!, join(work.dir, 'image')));
    let command = o.command;
    let payload: Payload;
    if (command.length > 0 || o.script) {
      const tools = await prepareTools(join(work.dir, 'tools'));
      mkdirSync(join(work.dir, 'out'), { mode: 0o755 });
      let installed: Buffer[] = [];
      let mkdirs: string[] = [];
      let rmdirs: string[] = [];
      if (o.script) {
        const s = await runScript(o.script, root, work.dir, tools, o.debug);
        ({ root, command } = s);
        installed = s.entries;
        ({ mkdirs, rmdirs } = s);
        process.stderr.write(`polecat: --- testing stage: ${command.join(' ')} (ended after ${o.trapTime} s) ---\n`);
      }
      checkCommand(root, command[0]!);
      const found = await trapCommand({ root, command, work: work.dir, tools, ignoreState: o.ignoreState || Boolean(o.script),
        ...(o.script ? { timeLimit: o.trapTime } : {}), add: o.add, debug: o.debug });
      const stage = join(work.dir, 'stage');
      mkdirSync(stage, { mode: 0o755 });
      await copyEntries(root, withParents([...found, ...installed]), stage, join(work.dir, 'list'));
      for (const d of rmdirs) rmSync(inStage(stage, d), { recursive: true, force: true });
      for (const d of mkdirs) mkdirSync(inStage(stage, d), { recursive: true, mode: 0o755 });
      baseDirs(stage);
      const epoch = epochSet ?? newestMtime(stage, 64);
      writeMeta(join(stage, '.polecat.json'), command, src, epoch);
      payload = { dir: stage, exclude: [], oneFileSystem: false, epoch };
    } else {
      command = [...(src.command ?? [])];
      const meta = join(work.dir, 'meta', '.polecat.json');
      mkdirSync(dirname(meta), { mode: 0o755 });
      const epoch = epochSet ?? newestMtime(root, 0);
      writeMeta(meta, command, src, epoch);
      const exclude = ['etc/hosts', 'etc/resolv.conf', '.polecat.json'];
      for (const p of [work.dir, tmpOut]) {
        const r = relative(root, p);
        if (!r.startsWith('..')) exclude.push(r);
      }
      payload = { dir: root, meta, exclude, oneFileSystem: root === '/', epoch };
    }
    await writeBundle(o.format, payload, tmpOut, work.dir, command);
    renameSync(tmpOut, output);
    return output;
  } catch (err) {
    if (err instanceof MincError) throw err;
    throw new MincError((err as Error).message, { cause: err });
  }
}

function writeMeta(path: string, command: readonly string[], src: Source, epoch: number): void {
  const meta = { polecat: 1, command, source: src.describe, date: new Date(epoch * 1000).toISOString(), epoch };
  writeFileSync(path, `${JSON.stringify(meta, null, 1)}\n`, { mode: 0o444 });
}
