/**
 * -B/--background and --stop DIR.
 *
 * The launcher makes the temp dir, opens its log (the container's stdout) and
 * debug (stderr) files, and starts minc again, detached in a new session
 * (setsid: no controlling terminal, so closing the terminal does not reach
 * it), with MINC_BG_DIR naming the dir.  That minc runs the container as a
 * foreground run would -- same cleanup stack, same signal forwarding -- and
 * removes the dir when it ends.  The launcher waits until the container's
 * init has started (TEMPDIR/pid), prints the dir on stdout and returns.  A
 * setup error of the detached minc is copied to the launcher's stderr.
 *
 * Stopping it: SIGTERM to that minc (its pid is in TEMPDIR/settings; `kill PID`
 * works as well) forwards TERM to the command and cleans up; `minc --stop DIR`
 * does that and waits, then SIGKILLs and cleans up as `minc --gc` would if the
 * run does not end within the grace time.
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, fstatSync, lstatSync, mkdirSync, mkdtempSync, openSync, readSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { UsageError } from '../errors.js';
import { runUndo } from '../host/run.js';
import type { Config } from '../options/validate.js';
import { TEMP_PREFIX } from '../plan/paths.js';
import { runContainer } from './container.js';
import type { Facts } from './facts.js';
import { debug, info, writeFd } from './log.js';
import { processStart, readSettings } from './settings.js';
import { listTempdirs, removeTempdir, tempBase } from './tempdir.js';
import { ownerAlive } from '../gc.js';
import { resolveContainer } from '../marten/model.js';
import { Store } from '../marten/store.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Environment setting that makes a minc the detached half of a background run ('' : the -t dir of the config). */
export const BG_ENV = 'MINC_BG_DIR';

function readAll(fd: number): string {
  const size = fstatSync(fd).size;
  const buf = Buffer.alloc(size);
  let off = 0;
  while (off < size) {
    const n = readSync(fd, buf, off, size - off, off);
    if (n <= 0) break;
    off += n;
  }
  return buf.subarray(0, off).toString();
}

/** The detached half: the container, as a foreground run, in the dir the launcher made. */
async function detached(config: Config, facts: Facts, colour: { on: string; off: string } | undefined, dir: string): Promise<number> {
  if (!dir) return runContainer(config, facts, colour);
  try {
    return await runContainer({ ...config, tempdir: dir, keep: false }, facts, colour);
  } finally {
    try {
      if (existsSync(dir)) removeTempdir(dir);
    } catch (err) {
      info(err instanceof Error ? err.message : String(err));
    }
  }
}

export async function background(config: Config, facts: Facts, colour?: { on: string; off: string }): Promise<number> {
  const bg = process.env[BG_ENV];
  if (bg !== undefined) return detached(config, facts, colour, bg);
  let dir = config.tempdir;
  if (!dir) {
    const base = tempBase();
    mkdirSync(base, { recursive: true });
    dir = mkdtempSync(join(base, `${TEMP_PREFIX}${process.pid}-`));
  }
  const log = openSync(join(dir, 'log'), 'w');
  const errFd = openSync(join(dir, 'debug'), 'w+');
  const argv = [...process.execArgv, process.argv[1]!, ...process.argv.slice(2)];
  debug('Start minc again, detached in a new session, output to TEMPDIR/log and TEMPDIR/debug', `${process.execPath} ${argv.join(' ')}`);
  const child = spawn(process.execPath, argv, {
    detached: true,
    stdio: ['ignore', log, errFd],
    env: { ...process.env, [BG_ENV]: config.tempdir ? '' : dir },
  });
  closeSync(log);
  let exit: number | null = null;
  child.on('exit', (code, sig) => {
    exit = code ?? 128;
    if (sig) exit = 128 + 15;
  });
  const pidFile = join(dir, 'pid');
  for (let waited = 0; exit === null && !existsSync(pidFile) && waited < 30_000; waited += 10) await sleep(10);
  if (exit !== null && !existsSync(pidFile)) {
    writeFd(2, readAll(errFd));
    closeSync(errFd);
    return exit || 1;
  }
  closeSync(errFd);
  child.unref();
  writeFd(1, `${dir}\n`);
  info(`running in the background as pid ${child.pid}: output in ${dir}/log, errors in ${dir}/debug; stop it with: minc --stop ${dir}`);
  return 0;
}

function alive(pid: number, start: number): boolean {
  const now = processStart(pid);
  return now !== null && now === start;
}

/**
 * The temp dir of a run named as `-t` takes it or as `marten lc` shows it: a
 * path; the ID of a run outside the store (its temp dir's name, minc<pid>-XXXXXX);
 * the NAME of such a run (--name); a container of the store by id, prefix or name.
 */
export function findRun(target: string, what = '--stop'): string {
  if (target.includes('/') || existsSync(target)) return resolve(target);
  const runs = listTempdirs();
  const byId = runs.find((d) => basename(d) === target);
  if (byId) return byId;
  const named = runs.filter((d) => readSettings(d)?.name === target && ownerAlive(d));
  if (named.length > 1) throw new UsageError(`${what} '${target}': ${named.length} runs have that name: ${named.map((d) => basename(d)).join(', ')} (give the ID)`);
  if (named.length === 1) return named[0]!;
  try {
    return resolveContainer(new Store(), target).dir;
  } catch (err) {
    throw new UsageError(`${what} '${target}': no such run: neither a temp dir, the ID or NAME of a run (marten lc), nor a container (${err instanceof Error ? err.message : String(err)})`);
  }
}

/** --stop DIR|ID|NAME: stop a background run and clean up as its own minc would. */
export async function stop(target: string, graceMs = 10_000): Promise<number> {
  const dir = findRun(target);
  // only a run of one's own: its undo file runs here, and a dir of another user's (or root's) is theirs to stop
  const st = lstatSync(dir, { throwIfNoEntry: false });
  const uid = process.getuid?.() ?? 0;
  if (st && (st.uid !== uid || (st.mode & 0o022) !== 0)) throw new UsageError(`--stop '${target}': not a run of yours (${dir} is ${st.uid !== uid ? `uid ${st.uid}'s` : 'writable by others'})`);
  const s = readSettings(dir);
  if (!s) throw new UsageError(`--stop '${target}': not the temporary directory of a minc run`);
  if (alive(s.mincPid, s.mincStart)) {
    debug(`Send SIGTERM to the minc of the run (pid ${s.mincPid}): it forwards it to the command and cleans up`, `kill -TERM ${s.mincPid}`);
    process.kill(s.mincPid, 'SIGTERM');
    for (let waited = 0; alive(s.mincPid, s.mincStart) && waited < graceMs; waited += 20) await sleep(20);
    if (alive(s.mincPid, s.mincStart)) {
      info(`the run did not end within ${graceMs / 1000} s: killing it`);
      process.kill(s.mincPid, 'SIGKILL');
      for (let waited = 0; alive(s.mincPid, s.mincStart) && waited < 5000; waited += 20) await sleep(20);
    }
  }
  // what a dead minc left: the undo of its host side, and its dir unless kept (as minc --gc)
  if (existsSync(dir)) {
    runUndo(dir);
    if (!s.keep) removeTempdir(dir);
  }
  return 0;
}
