/**
 * Running a helper tool (cp, tar, find, getfattr, du): node's child_process
 * directly, since loading execa costs marten ~0.2 s a run.  Rejects with a
 * MincError naming the tool and its first stderr line.
 */
import { spawn } from 'node:child_process';
import { MincError } from '../errors.js';

/** tar's warnings: noise beside the error that made it fail. */
const WARNING = /Removing leading|Ignoring unknown extended header|implausibly old time stamp|time stamp .* in the future|A lone zero block|Exiting with failure status|Error is not recoverable: exiting now|Child returned status|socket ignored/;

/**
 * The line that says why cmd failed: its first line that is not a warning,
 * without cmd's own "cmd: " prefix (the caller adds it once); ENOSPC said plainly.
 */
export function toolError(cmd: string, stderr: string): string | undefined {
  const lines = stderr.split('\n').map((l) => l.trim()).filter(Boolean);
  const prefix = `${cmd}: `;
  const strip = (l: string): string => (l.startsWith(prefix) ? l.slice(prefix.length) : l);
  const nospace = lines.find((l) => /No space left on device/i.test(l));
  if (nospace) return `no space left on device (${strip(nospace).replace(/: (Cannot write|Cannot open|Wrote only).*$/i, '').replace(/^\.\//, '')})`;
  const real = lines.find((l) => !WARNING.test(l));
  return real ? strip(real) : undefined;
}

export interface ProcResult {
  status: number;
  stdout: Buffer;
  stderr: string;
}

/** Run cmd; resolves whatever its status when check is false. */
export function run(cmd: string, args: readonly string[], check = true): Promise<ProcResult> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    p.stdout.on('data', (d: Buffer) => out.push(d));
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.on('error', (e) => reject(new MincError(`${cmd}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'not found' : e.message}`, { cause: e })));
    p.on('close', (code, sig) => {
      const status = code ?? 128;
      if (check && status !== 0) {
        reject(new MincError(`${cmd}: ${toolError(cmd, err) ?? (sig ? `killed by ${sig}` : `status ${status}`)}`, { command: [cmd, ...args] }));
      } else resolve({ status, stdout: Buffer.concat(out), stderr: err });
    });
  });
}
