/**
 * Starting the container's first process, with minc's own stdio (and the
 * --preserve-fds ones) inherited.  node's child_process costs ~3 ms to load
 * (net, streams and dgram come with it) and ~1 ms more per spawn in setting up
 * streams minc does not use: about 6 ms of every run, more than all of minc's
 * own work before the spawn.  So minc drives the handle child_process itself
 * wraps, process_wrap's Process (the same uv_spawn, the same exit callback),
 * where this node exposes it (src/run/binding.ts), and falls back to
 * child_process.spawn where it does not (or with MINC_SPAWN=child_process).
 * Only this module knows which.
 */
import { writeSync } from 'node:fs';
import { constants } from 'node:os';
import { getSystemErrorName } from 'node:util';
import { MincError } from '../errors.js';
import { quietBinding } from './binding.js';

export interface Started {
  readonly pid: number;
  /** the exit status: the code, or 128+N for signal N */
  readonly status: Promise<number>;
  kill(signal: NodeJS.Signals): void;
  /**
   * with a go channel (startInherited's `go`): write text to the child's
   * descriptor `fds` and close it; without text, close it only (the child
   * reads end of file)
   */
  go(text?: string): void;
}

/** process_wrap's Process, as lib/internal/child_process.js uses it. */
interface ProcessHandle {
  pid?: number;
  onexit: (exitCode: number, signalCode: string) => void;
  spawn(options: { file: string; args: string[]; cwd: string; envPairs: string[]; stdio: ({ type: 'fd'; fd: number } | { type: 'pipe'; handle: PipeHandle })[] }): number;
  kill(signal: number): number;
  close(): void;
}

type ProcessCtor = new () => ProcessHandle;

/** pipe_wrap's Pipe, as lib/internal/child_process.js makes one for a child's stdio pipe. */
interface PipeHandle {
  readonly fd: number;
  close(): void;
}
interface PipeWrap {
  Pipe: new (type: number) => PipeHandle;
  constants: { SOCKET: number };
}

function processWrap(env: NodeJS.ProcessEnv): ProcessCtor | undefined {
  if (env.MINC_SPAWN === 'child_process') return undefined;
  return quietBinding<{ Process?: ProcessCtor }>('process_wrap')?.Process;
}

const statusOf = (code: number | null, signal: string | null): number =>
  code ?? 128 + (signal ? (constants.signals as Record<string, number>)[signal] ?? 0 : 0);

/**
 * Start file with args (argv[0] is file), env, and descriptors 0 .. fds-1
 * inherited, in / (the caller's working directory may be gone, and the
 * container has no use for it: every path minc passes is absolute).
 */
export function startInherited(file: string, args: readonly string[], env: NodeJS.ProcessEnv, fds: number, go = false): Started {
  const Process = processWrap(process.env);
  const pipeWrap = go ? quietBinding<PipeWrap>('pipe_wrap') : undefined;
  if (!Process || (go && !pipeWrap?.Pipe)) return startChildProcess(file, args, env, fds, go);
  // (the go channel: a socket pair, its far end the child's descriptor fds, as child_process makes a stdio pipe)
  const pipe = pipeWrap ? new pipeWrap.Pipe(pipeWrap.constants.SOCKET) : undefined;
  const handle = new Process();
  let settle!: (status: number) => void;
  const status = new Promise<number>((resolve) => {
    settle = resolve;
  });
  handle.onexit = (exitCode, signalCode) => {
    handle.close();
    settle(statusOf(signalCode ? null : exitCode, signalCode || null));
  };
  const envPairs = Object.entries(env).flatMap(([k, v]) => (v === undefined ? [] : [`${k}=${v}`]));
  const stdio = [...Array.from({ length: fds }, (_, fd) => ({ type: 'fd' as const, fd })), ...(pipe ? [{ type: 'pipe' as const, handle: pipe }] : [])];
  const err = handle.spawn({ file, args: [file, ...args], cwd: '/', envPairs, stdio });
  if (err !== 0) {
    handle.close();
    pipe?.close();
    throw new MincError(`starting ${file}: ${getSystemErrorName(err)}`);
  }
  let open = Boolean(pipe);
  return {
    pid: handle.pid!,
    status,
    kill: (signal) => {
      handle.kill(constants.signals[signal]);
    },
    go: (text) => {
      if (!open) return;
      open = false;
      try {
        // (a few bytes into an empty socket buffer: the write does not block)
        if (text) writeSync(pipe!.fd, text);
      } catch {
        /* the child is gone (EPIPE): its status says so */
      } finally {
        pipe!.close();
      }
    },
  };
}

function startChildProcess(file: string, args: readonly string[], env: NodeJS.ProcessEnv, fds: number, go = false): Started {
  const { spawn } = process.getBuiltinModule('node:child_process');
  const child = spawn(file, args, { stdio: [...Array.from({ length: fds }, () => 'inherit' as const), ...(go ? ['pipe' as const] : [])], env, cwd: '/' });
  const status = new Promise<number>((resolve, reject) => {
    child.on('error', (err) => reject(new MincError(`starting ${file}: ${err.message}`)));
    child.on('exit', (code, signal) => resolve(statusOf(code, signal)));
  });
  return {
    pid: child.pid ?? 0,
    status,
    kill: (signal) => {
      child.kill(signal);
    },
    go: (text) => {
      const w = go ? (child.stdio[fds] as (NodeJS.WritableStream & { writableEnded: boolean }) | null) : null;
      if (!w || w.writableEnded) return;
      w.on('error', () => {}); // (a child that is gone: its status says so)
      w.end(text ?? '');
    },
  };
}
