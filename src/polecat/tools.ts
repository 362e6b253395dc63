/**
 * Tools the build runs: bin/minc (the sandbox), and the host's strace and
 * dash carried into it.  A root has neither strace nor, maybe, a shell, so
 * they go in by a read-only bind of a directory holding them, their
 * libraries and their loader, and run through that loader (minc's stage
 * runs host tools in the container the same way).
 */
import type { ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MincError } from '../errors.js';
import { run } from '../marten/proc.js';
import { parseElf } from './elf.js';
import { listedLibraries } from './trace.js';

/** The minc runs under way: a signal to polecat ends them (minc then cleans up its own) before the work dir goes. */
export const running = new Set<ChildProcess>();

/** Register a minc child until it ends. */
export function track(p: ChildProcess): void {
  running.add(p);
  p.on('close', () => running.delete(p));
}

/** SIGTERM to each minc under way; resolves once all have ended (SIGKILL after 10 s). */
export function endAll(): Promise<void> {
  const all = [...running].map((p) => new Promise<void>((res) => {
    if (p.exitCode !== null || p.signalCode !== null) return res();
    p.on('close', () => res());
    p.kill('SIGTERM');
    setTimeout(() => p.kill('SIGKILL'), 10_000).unref();
  }));
  return Promise.all(all).then(() => undefined);
}

/** Where the tools are bound in the sandbox, and where the sandbox writes its results. */
export const TOOLS_AT = '/.polecat-tools';
export const OUT_AT = '/.polecat-out';

export function mincPath(): string {
  const found = ['../bin/minc', '../../bin/minc'].map((p) => fileURLToPath(new URL(p, import.meta.url))).find((p) => existsSync(p));
  if (!found) throw new MincError('bin/minc not found next to polecat');
  return found;
}

function which(name: string): string {
  for (const d of (process.env.PATH ?? '/usr/bin:/bin').split(':').concat(['/usr/bin', '/bin', '/usr/sbin', '/sbin'])) {
    if (d && existsSync(join(d, name))) return join(d, name);
  }
  throw new MincError(`${name} not found (apt-get install ${name})`);
}

export interface Tools {
  /** argv prefix that runs a tool of the directory in the sandbox: the loader and its library path */
  prefix(tool: 'strace' | 'dash'): string[];
}

/** Copy strace and dash with their libraries and loader into dir (bound at TOOLS_AT). */
export async function prepareTools(dir: string): Promise<Tools> {
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  let loader: string | undefined;
  for (const bin of [which('strace'), which('dash')]) {
    const info = parseElf(readFileSync(bin).subarray(0, 65536));
    const files = [bin];
    if (info?.interp) {
      loader = info.interp.toString();
      files.push(...listedLibraries((await run(loader, ['--list', bin])).stdout).map((b) => b.toString()));
    }
    for (const f of files) copyFileSync(f, join(dir, basename(f)));
    if (!info?.interp) continue;
    copyFileSync(loader!, join(dir, 'ld.so'));
  }
  return {
    prefix: (tool) => (loader ? [`${TOOLS_AT}/ld.so`, '--library-path', TOOLS_AT, `${TOOLS_AT}/${tool}`] : [`${TOOLS_AT}/${tool}`]),
  };
}
