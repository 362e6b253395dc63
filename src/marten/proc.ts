/**
 * Running a helper tool (cp, tar, find, getfattr, du): node's child_process
 * directly, since loading execa costs marten ~0.2 s a run.  Rejects with a
 * MincError naming the tool and its first stderr line.
 */
import { spawn } from 'node:child_process';
import { MincError } from '../errors.js';

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
        reject(new MincError(`${cmd}: ${err.trim().split('\n')[0] || (sig ? `killed by ${sig}` : `status ${status}`)}`, { command: [cmd, ...args] }));
      } else resolve({ status, stdout: Buffer.concat(out), stderr: err });
    });
  });
}
