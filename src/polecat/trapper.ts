/**
 * The dependency trapper (MINCS's minc-trapper): run the command once in a
 * minc sandbox of the root under `strace -f -e trace=file,process`, take
 * every path it opened, executed or looked at that exists in the root (links
 * followed there), then each ELF file's interpreter and libraries as the
 * root's own loader resolves them (`ld.so --list`, run in the sandbox).
 */
import { spawn } from 'node:child_process';
import { lstatSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MincError } from '../errors.js';
import { key, readHead, resolveEntries, walkTree, type Resolved } from './collect.js';
import { parseElf } from './elf.js';
import { listedLibraries, shQuote, tracedPaths } from './trace.js';
import { mincPath, OUT_AT, TOOLS_AT, track, type Tools } from './tools.js';

export interface TrapOptions {
  root: string;
  command: readonly string[];
  work: string;
  tools: Tools;
  ignoreState: boolean;
  /** end the run after this many seconds (script mode: a server runs until stopped) */
  timeLimit?: number;
  add: readonly string[];
  debug: boolean;
}

export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Paths a run touches that are not the root's to give: the run's own mounts, the tools, what the launcher makes. */
const SKIP = ['/proc', '/sys', '/dev', '/tmp', '/run', TOOLS_AT, OUT_AT, '/etc/hosts', '/etc/resolv.conf', '/etc/mtab'].map((p) => Buffer.from(p));
const skipped = (p: Buffer): boolean =>
  SKIP.some((s) => p.length >= s.length && p.subarray(0, s.length).equals(s) && (p.length === s.length || p[s.length] === 0x2f)) &&
  !(p.equals(Buffer.from('/tmp')));

/** Run minc with argv; resolves with its status (a signal as 128+N). */
function runMinc(args: readonly string[], opts: { timeLimit?: number; debug: boolean; capture?: boolean }): Promise<{ status: number; stdout: Buffer }> {
  return new Promise((resolve, reject) => {
    const argv = [mincPath(), ...args];
    if (opts.debug) process.stderr.write(`polecat: running ${argv.join(' ')}\n`);
    // the PATH the bundle's launcher gives the command, so the command found is the one that will run
    const p = spawn(process.execPath, argv, { stdio: ['ignore', opts.capture ? 'pipe' : 2, 2], env: { ...process.env, PATH: DEFAULT_PATH } });
    track(p);
    const out: Buffer[] = [];
    p.stdout?.on('data', (d: Buffer) => out.push(d));
    const timer = opts.timeLimit ? setTimeout(() => p.kill('SIGTERM'), opts.timeLimit * 1000) : undefined;
    p.on('error', (e) => reject(new MincError(`minc: ${e.message}`, { cause: e })));
    p.on('close', (code, sig) => {
      if (timer) clearTimeout(timer);
      resolve({ status: code ?? 128 + (sig === 'SIGTERM' ? 15 : 9), stdout: Buffer.concat(out) });
    });
  });
}

const sandbox = (o: TrapOptions, out: string): string[] => ['-r', o.root, '-b', `${join(o.work, 'tools')}:${TOOLS_AT}:ro`, '-b', `${out}:${OUT_AT}`, '--'];

/** Trap the command: the root-relative entries of the bundle (not yet with their parents). */
export async function trapCommand(o: TrapOptions): Promise<Buffer[]> {
  const out = join(o.work, 'out');
  mkdirSync(out, { recursive: true, mode: 0o755 });
  // -I 2: a timed run ends by SIGTERM, which strace blocks for good (-I 3) when it writes to a file
  const strace = [...o.tools.prefix('strace'), ...(o.timeLimit ? ['-I', '2'] : []), '-f', '-qq', '-xx', '-y', '-e', 'trace=file,process', '-o', `${OUT_AT}/trace`, '--', ...o.command];
  const r = await runMinc([...sandbox(o, out), ...strace], { timeLimit: o.timeLimit, debug: o.debug });
  if (r.status !== 0 && !o.ignoreState && !o.timeLimit) {
    throw new MincError(`${o.command[0]} failed under the trapper (status ${r.status}); --ignore-state builds the bundle anyway`);
  }
  let log: string;
  try {
    log = readFileSync(join(out, 'trace'), 'latin1');
  } catch {
    throw new MincError(`the trapper's run left no trace (status ${r.status})`);
  }
  const found = new Map<string, Resolved>();
  const take = (p: Buffer): Resolved | null => {
    if (skipped(p)) return null;
    const res = resolveEntries(o.root, p);
    if (res && res.target.length > 0 && !skipped(Buffer.concat([Buffer.from('/'), res.target]))) found.set(key(p), res);
    return res;
  };
  for (const p of tracedPaths(log)) take(p);
  for (const a of o.add) {
    const res = take(Buffer.from(a));
    if (!res) throw new MincError(`--add ${a}: no such file or directory in the root`);
    if (res.st.isDirectory()) {
      const below: Buffer[] = [];
      walkTree(o.root, res.target, below);
      for (const b of below) found.set(key(b), { entries: [b], target: b, st: lstatSync(Buffer.concat([Buffer.from(`${o.root.replace(/\/+$/, '')}/`), b])) });
    }
  }
  await addLibraries(o, out, found, take);
  return [...found.values()].flatMap((f) => f.entries);
}

/** Each dynamic ELF file's interpreter and libraries, by `INTERP --list FILE` inside the sandbox. */
async function addLibraries(o: TrapOptions, out: string, found: Map<string, Resolved>, take: (p: Buffer) => Resolved | null): Promise<void> {
  const elfs: { file: Buffer; interp?: Buffer }[] = [];
  const interps = new Map<string, Buffer>();
  for (const f of found.values()) {
    if (!f.st.isFile()) continue;
    const head = readHead(o.root, f.target);
    const info = head ? parseElf(head) : null;
    if (!info?.dynamic) continue;
    elfs.push({ file: Buffer.concat([Buffer.from('/'), f.target]), interp: info.interp });
    if (info.interp) interps.set(key(info.interp), info.interp);
  }
  if (elfs.length === 0 || interps.size === 0) return; // all static (busybox): nothing to resolve
  // a library has no interpreter of its own: the root's (first) one lists it
  const fallback = [...interps.values()][0]!;
  for (const i of interps.values()) take(i);
  const lines = elfs.map((e) => Buffer.concat([shQuote(e.interp ?? fallback), Buffer.from(' --list '), shQuote(e.file), Buffer.from(' 2>/dev/null || :\n')]));
  writeFileSync(join(out, 'list.sh'), Buffer.concat(lines));
  const r = await runMinc([...sandbox(o, out), ...o.tools.prefix('dash'), `${OUT_AT}/list.sh`], { debug: o.debug, capture: true });
  if (r.status !== 0) throw new MincError(`listing the libraries in the sandbox failed (status ${r.status})`);
  for (const lib of listedLibraries(r.stdout)) take(lib);
}
