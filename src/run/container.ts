/**
 * Running a container: host side preparation, then one child
 *   [env --ignore-signal=INT,QUIT] setpriv --pdeathsig KILL -- [host stage]
 *   unshare -iumpf --kill-child -- sh -c 'eval "$MINC_STAGE"'
 * that runs the plan in the new namespaces.  If minc is SIGKILLed, setpriv's
 * parent-death signal takes unshare down and --kill-child the whole PID
 * namespace with it; `minc --gc` reclaims the temp dir.  A run with no host
 * side starts that child before it builds its plan (earlyStart below).
 */
import { mkdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { writeNoFollow } from '../fs/nofollow.js';
import { constants } from 'node:os';
import { MincError, withContext } from '../errors.js';
import type { Config } from '../options/validate.js';
import { buildPlan } from '../plan/build.js';
import { renderPlanText, renderScript, shQuote } from '../plan/render.js';
import type { Plan } from '../plan/types.js';
import { DEVDIR } from '../plan/paths.js';
import { needsHost, prepareHost } from '../host/run.js';
import { STAGE_PATH } from '../where.js';
import { CleanupStack } from './cleanup.js';
import type { Facts } from './facts.js';
import { closeInheritedFds } from './fds.js';
import { debug, debugEnabled } from './log.js';
import { startInherited, type Started } from './spawn.js';
import { prepareTempdir } from './tempdir.js';
import { rootlessUnshareFlags, twoPhase } from '../rootless/plan.js';

/**
 * The stage text travels in MINC_STAGE (PID 1's command line stays short, and
 * init holds no descriptor of a host file); it is copied, then unset, so the
 * command never sees it.
 */
export const STAGE_BOOT = 'minc_s=$MINC_STAGE; unset MINC_STAGE; eval "$minc_s"';

const FORWARDED = ['SIGTERM', 'SIGHUP', 'SIGINT', 'SIGQUIT'] as const;

/**
 * The environment the command gets: the caller's, less MINC_* and minc_*
 * (minc's own settings, and the names the stage uses for its variables, so
 * none of those is ever exported).
 */
export function commandEnv(env: NodeJS.ProcessEnv, script: string): NodeJS.ProcessEnv {
  // setpriv, unshare (and env) start in the C locale: no locale files to load.  The stage's first line
  // gives LC_ALL back as the caller had it, before anything else (re-entered stages run it again)
  const lc = env.LC_ALL === undefined ? 'unset LC_ALL' : `LC_ALL=${shQuote(env.LC_ALL)}; export LC_ALL`;
  return { ...Object.fromEntries(Object.entries(env).filter(([k]) => !/^minc_/i.test(k))), LC_ALL: 'C', MINC_STAGE: `${lc}\n${script}` };
}

/** The host side argv that enters the namespaces and runs the stage. */
export function launcherArgv(facts: Facts, command: readonly string[], config?: Config): string[] {
  const need = (t: 'setpriv' | 'unshare' | 'sh' | 'env'): string => {
    const p = facts.tools[t];
    if (!p) throw new MincError(`${t} not found on this host (minc --doctor says what to install)`);
    return p;
  };
  // In the foreground of a terminal ^C and ^\ go to its whole foreground
  // process group: unshare (which would die and take the container with it)
  // must ignore them; init gets them back (as PID 1 of its namespace it is
  // not killed by them), and so does the command it starts.
  const tty = facts.ttyMode;
  // rootless: a user namespace and a mount namespace; the stage mounts the root there, then enters the rest itself
  // (src/rootless/plan.ts: enter_pidns, which gives init INT and QUIT back)
  const rootless = config?.rootless;
  const spaces = rootless ? rootlessUnshareFlags(config) : ['--ipc', '--uts', '--mount', '--pid', '--fork', '--kill-child=KILL'];
  return [...(tty ? [need('env'), '--ignore-signal=INT,QUIT'] : []), need('setpriv'), '--pdeathsig', 'KILL', '--',
    need('unshare'), ...spaces, '--',
    ...(tty && !(config && twoPhase(config)) ? [need('env'), '--default-signal=INT,QUIT'] : []), need('sh'), '-c', STAGE_BOOT, 'minc-init', ...command];
}

/** The stage's script for this run; the plan's files are written into the temp dir (without following links). */
export function renderFor(config: Config, facts: Facts, tempdir: string, colour?: { on: string; off: string }): string {
  return renderScript(readFileSync(STAGE_PATH, 'utf8'), planWithFiles(config, facts, tempdir, colour));
}

/** The plan of this run, its files written into the temp dir (without following links). */
function planWithFiles(config: Config, facts: Facts, tempdir: string, colour?: { on: string; off: string }): Plan {
  const plan = buildPlan({ config, facts, tempdir, colour });
  for (const [name, content] of Object.entries(plan.files ?? {})) {
    const at = join(tempdir, name);
    // (dev/: a rootless run's /dev itself, open to the container's users)
    const dirMode = name.startsWith(`${DEVDIR}/`) ? 0o755 : 0o700;
    if (typeof content === 'string') {
      mkdirSync(dirname(at), { recursive: true, mode: dirMode });
      writeNoFollow(at, content, 0o600);
    } else {
      mkdirSync(dirname(at), { recursive: true, mode: dirMode });
      rmSync(at, { force: true });
      symlinkSync(content.symlink, at);
    }
  }
  return plan;
}

/** The plan's text, for a launcher started before it (earlyStart): the stage sources it from here. */
const PLAN_FILE = 'plan';

/**
 * A run whose launcher needs nothing of the plan (no host side: network,
 * cgroups, --cpu; no --cross, whose init re-enters the stage after pivot_root)
 * starts it first, and builds the plan while setpriv, unshare and sh start:
 * the stage waits for minc's `go` on the descriptor after the inherited ones
 * (one digit: sh's redirections go to 9), then sources TEMPDIR/plan.
 */
const earlyStart = (config: Config): boolean => !needsHost(config) && !config.cross && config.preserveFds <= 6;

/** The early stage's text: the stage, the wait for go, the plan. */
function earlyScript(tempdir: string, fd: number): string {
  return `${readFileSync(STAGE_PATH, 'utf8')}\nminc_early ${fd}\n. ${shQuote(`${tempdir}/${PLAN_FILE}`)}\n`;
}

/**
 * Where a signal for the command goes: the command's own process, init's
 * first child (with --as-pid-1 init itself).  The stage writes init's host pid
 * to TEMPDIR/pid from that process once the set-up is done; null before then,
 * and the run ends instead (a set-up step must not get the signal: it would
 * fail the step, or be lost).
 */
function signalTarget(tempdir: string, asPid1: boolean): number | null {
  let init: number;
  try {
    init = Number(readFileSync(`${tempdir}/pid`, 'utf8'));
  } catch {
    return null;
  }
  if (!(init > 0)) return null;
  if (asPid1) return init;
  try {
    const first = Number(readFileSync(`/proc/${init}/task/${init}/children`, 'utf8').split(' ')[0]);
    if (first > 0) return first;
  } catch {
    /* init is gone or the kernel lacks /proc/PID/task/TID/children */
  }
  return init;
}

/** Run the container; resolves to minc's exit status (the command's). */
export async function runContainer(config: Config, facts: Facts, colour?: { on: string; off: string }, onTempdir?: (dir: string) => void): Promise<number> {
  const cleanup = new CleanupStack();
  let signalled: NodeJS.Signals | null = null;
  let killedEarly = false;
  let child: Started | null = null;
  let tempdir = '';
  const onSignal = (sig: NodeJS.Signals): void => {
    // in the foreground of a terminal ^C and ^\ reach the command straight from it (docker run -t does not forward them either)
    if ((sig === 'SIGINT' || sig === 'SIGQUIT') && facts.ttyMode) return;
    signalled ??= sig;
    const pid = tempdir ? signalTarget(tempdir, config.asPid1) : null;
    if (child && pid) {
      debug(`Forward ${sig} to the command`, `kill -${sig.slice(3)} ${pid}`);
      try {
        process.kill(pid, sig);
      } catch {
        /* already gone */
      }
    } else if (child) {
      // still setting up (no TEMPDIR/pid yet): end the run (unshare's --kill-child takes the namespace down)
      killedEarly = true;
      child.kill('SIGKILL');
    }
  };
  for (const sig of FORWARDED) process.on(sig, onSignal);
  try {
    try {
      tempdir = prepareTempdir(config, facts, cleanup);
    } catch (err) {
      throw withContext('making the temporary directory', err);
    }
    onTempdir?.(tempdir); // minc --review reads the kept dir once the run has ended (src/review/prompt.ts)
    if (signalled) return 128 + constants.signals[signalled];
    const early = earlyStart(config);
    const fds = 3 + config.preserveFds;
    const host = prepareHost(config, facts, tempdir, cleanup, colour); // network, cgroups, --cpu (src/host/run.ts; none for an early start)
    const script = early ? earlyScript(tempdir, fds) : renderFor(config, facts, tempdir, colour);
    const argv = host.wrap(launcherArgv(facts, config.command, config));
    debug(`Enter new IPC, UTS, mount and PID namespaces and run the plan there (libexec/minc-stage${early ? ' in $MINC_STAGE, the plan in TEMPDIR/plan once minc says go' : ' + the plan, in $MINC_STAGE'})`,
      argv.map(shQuote).join(' '));
    closeInheritedFds(config.preserveFds);
    const started = startInherited(argv[0]!, argv.slice(1), { ...commandEnv(process.env, script), ...host.env }, fds, early);
    child = started;
    if (early) {
      const planFile = join(tempdir, PLAN_FILE);
      cleanup.push('Remove the plan file', () => rmSync(planFile, { force: true })); // (a kept dir keeps none)
      try {
        writeNoFollow(planFile, renderPlanText(planWithFiles(config, facts, tempdir, colour)), 0o600);
      } catch (err) {
        started.go(); // (end of file: the stage ends without a word)
        await started.status;
        throw err;
      }
      started.go('go\n');
    }
    const status = await child.status;
    if (debugEnabled()) debug(`The container ended with status ${status}`);
    return killedEarly && signalled ? 128 + constants.signals[signalled] : status;
  } finally {
    child = null;
    await cleanup.run();
    for (const sig of FORWARDED) process.off(sig, onSignal);
  }
}
