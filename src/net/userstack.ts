/**
 * The user-mode network stack of a rootless --net dens run, at run time
 * (src/net/usermode.ts says which and why).  The hand-over with the stage:
 *  1. before the launcher starts, minc watches the temp dir (inotify);
 *  2. the stage, in its new user and network namespaces, makes the fifo
 *     TEMPDIR/netgo and writes its host pid to TEMPDIR/netpid, then goes on
 *     mounting the root (the stack starts meanwhile);
 *  3. minc starts pasta or slirp4netns against /proc/PID/ns/{net,user} and
 *     waits until it is ready (pasta's pid file, slirp's ready fd, then its
 *     port forwards);
 *  4. minc writes `ok` (or the one `minc:` line that says why not) to the
 *     fifo; the stage reads it just before pivot_root (net_wait), so the
 *     command never starts without its network.
 * The stack lives exactly as long as minc: pasta by setpriv's parent-death
 * signal, slirp4netns by --exit-fd; close() stops it when the run ends.
 * Runs without --net dens never load this module's work.
 */
import { closeSync, constants, openSync, readFileSync, rmSync, watch, writeSync, type FSWatcher } from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import type { NetConfig } from './config.js';
import { pastaArgv, slirpArgv, slirpForwards, type UserNet } from './usermode.js';
import { debug } from '../run/log.js';
import { shQuote } from '../plan/render.js';

export interface UserStack {
  /** stop the stack (and the watch): signal it, without waiting */
  stop(): void;
  /** resolves once the stack has exited (pasta takes ~40 ms to: its tables are large) */
  exited(): Promise<void>;
}

/** How long a stack may take to come up before the run ends saying so. */
const READY_MS = 10_000;

const readInt = (file: string): number | null => {
  try {
    const n = Number(readFileSync(file, 'utf8').trim());
    return Number.isSafeInteger(n) && n > 0 ? n : null;
  } catch {
    return null;
  }
};

/** One request to slirp4netns's API socket; resolves to its reply's error, or null. */
function slirpRequest(socket: string, request: string): Promise<string | null> {
  const net = process.getBuiltinModule('node:net') as typeof import('node:net');
  return new Promise((resolve) => {
    let reply = '';
    const c = net.connect(socket, () => c.end(request));
    c.setEncoding('utf8');
    c.on('data', (d: string) => {
      if (reply.length < 4096) reply += d; // (bounded: a reply is one short JSON object)
    });
    c.on('error', (err) => resolve(err.message));
    c.on('close', () => {
      try {
        const r = JSON.parse(reply) as { error?: { desc?: string } };
        resolve(r.error ? r.error.desc ?? JSON.stringify(r.error) : null);
      } catch {
        resolve(`unreadable reply '${reply.slice(0, 200)}'`);
      }
    });
  });
}

export function startUserStack(net: NetConfig, tempdir: string): UserStack {
  const u: UserNet = net.usermode!;
  const { spawn } = process.getBuiltinModule('node:child_process');
  let proc: ChildProcess | null = null;
  let exited: Promise<void> = Promise.resolve();
  let goFd: number | null = null;
  let state: 'waiting' | 'starting' | 'ready' | 'done' = 'waiting';
  let timer: NodeJS.Timeout | undefined;
  let stderr = '';
  const pidFile = `${tempdir}/net.pid`;
  // the hand-over's files: none may be left from an earlier run of a reused (-t) dir
  const handover = ['netpid', 'netgo', 'net.pid', 'slirp.sock'].map((n) => `${tempdir}/${n}`);
  const clear = (): void => handover.forEach((f) => rmSync(f, { force: true }));
  clear();

  /** Tell the stage: `ok`, or the line it ends the run with. */
  const tell = (line: string): void => {
    if (state === 'done' || state === 'ready') return;
    state = line === 'ok' ? 'ready' : 'done';
    clearTimeout(timer);
    watcher?.close();
    try {
      // (O_RDWR: never blocks on a fifo; kept open until close(), so the line waits in the pipe for the stage's read)
      goFd = openSync(`${tempdir}/netgo`, constants.O_RDWR | constants.O_NONBLOCK | constants.O_NOFOLLOW);
      writeSync(goFd, `${line.replace(/\n/g, ' ')}\n`);
    } catch {
      /* the stage is gone: the run ends anyway */
    }
  };
  const fail = (why: string, ownWords = true): void => {
    // (pasta says each line a second time as a failed syslog send where there is no syslog)
    const words = ownWords ? stderr.split('\n').map((l) => l.trim()).filter((l) => l && !/^Failed to send \d+ bytes to syslog$/.test(l)).join('; ') : '';
    tell(`minc: --net dens: ${u.kind} ${why}${words ? `: ${words}` : ''}`);
  };

  const forwards = async (socket: string): Promise<void> => {
    for (const [i, request] of slirpForwards(net.ports).entries()) {
      const err = await slirpRequest(socket, request);
      const p = net.ports[i]!;
      if (err) return fail(`could not publish 127.0.0.1:${p.hostPort} (-p ${p.hostPort}:${p.port}${p.proto === 'udp' ? ':udp' : ''}): ${err}`, false);
    }
    tell('ok');
  };

  const start = (pid: number): void => {
    state = 'starting';
    timer = setTimeout(() => fail(`did not come up within ${READY_MS / 1000} s`), READY_MS);
    timer.unref();
    const api = net.ports.length ? `${tempdir}/slirp.sock` : null;
    const argv = u.kind === 'pasta' ? pastaArgv(u, pid, pidFile, net.ports) : slirpArgv(u, pid, api);
    debug(`Start ${u.kind} against the container's network and user namespaces (its parent-death signal, or --exit-fd, ties it to minc)`, argv.map(shQuote).join(' '));
    // slirp4netns: fd 3 says it is ready, fd 4 is the end whose closing makes it exit
    const p = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe', ...(u.kind === 'slirp4netns' ? ['pipe', 'pipe'] as const : [])], cwd: '/' });
    proc = p;
    exited = new Promise((resolve) => p.on('close', () => resolve()));
    p.on('error', (err) => fail(`could not be started (${err.message})`));
    p.stderr!.setEncoding('utf8');
    p.stderr!.on('data', (d: string) => {
      if (stderr.length < 4096) stderr += d;
    });
    p.on('exit', (code, sig) => {
      if (state === 'starting') fail(`exited (${sig ?? `status ${code}`}) before the network was up`);
    });
    if (u.kind === 'slirp4netns') {
      const ready = p.stdio[3] as NodeJS.ReadableStream;
      ready.once('data', () => {
        if (state !== 'starting') return;
        if (api) void forwards(api);
        else tell('ok');
      });
    }
  };

  const onEvent = (name: string | Buffer | null): void => {
    const n = String(name ?? '');
    if (state === 'waiting' && n === 'netpid') {
      const pid = readInt(`${tempdir}/netpid`);
      if (pid) start(pid);
    } else if (state === 'starting' && u.kind === 'pasta' && n === 'net.pid' && readInt(pidFile)) {
      tell('ok');
    }
  };
  const watcher: FSWatcher | null = watch(tempdir, { persistent: false }, (_ev, name) => onEvent(name));

  let killer: NodeJS.Timeout | undefined;
  return {
    stop: () => {
      clearTimeout(timer);
      watcher?.close();
      if (state !== 'ready') state = 'done';
      if (goFd !== null) closeSync(goFd);
      goFd = null;
      clear(); // (a kept dir keeps none of them)
      const p = proc;
      if (p && p.exitCode === null && p.signalCode === null) {
        // (slirp4netns exits as its exit fd closes too; SIGTERM for both, SIGKILL if it lingers)
        (p.stdio[4] as (NodeJS.WritableStream & { destroy?: () => void }) | undefined)?.destroy?.();
        p.kill('SIGTERM');
        killer = setTimeout(() => p.kill('SIGKILL'), 2000);
      }
    },
    exited: async () => {
      await exited;
      clearTimeout(killer);
    },
  };
}
