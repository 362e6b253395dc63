/**
 * polecat [options] ROOTDIR|IMAGE [command [args...]]: a rootfs, an image or
 * one command of it as one self-running file (MINCS's polecat).  A build runs
 * in a private mount namespace of its own (polecat starts itself again under
 * `unshare -m`): an image's layers mounted for it go with it, even after a
 * SIGKILL.  Errors are one `polecat:` line (the stack with --debug).
 */
import { spawn } from 'node:child_process';
import { MincError } from '../errors.js';
import { parseArgs, USAGE } from './options.js';

const argv = process.argv.slice(2);
const NS_MARK = '__POLECAT_PRIVATE_NS';

function report(err: unknown): void {
  const e = err instanceof Error ? err : new Error(String(err));
  process.stderr.write(`polecat: ${(e.message.split('\n')[0] ?? '').replace(/[\0-\x1f\x7f]/g, '?')}\n`);
  if (argv.includes('--debug') && e.stack) process.stderr.write(`${e.stack}\n`);
  process.exitCode = err instanceof MincError ? err.status : 1;
}

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'] as const;
const SIGNO: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGTERM: 15 };

/** Start this polecat again in a private mount namespace; its status is ours. */
function again(): Promise<void> {
  return new Promise((resolve) => {
    const child = spawn('unshare', ['--mount', '--propagation', 'private', '--', process.execPath, process.argv[1]!, ...argv], {
      stdio: 'inherit',
      env: { ...process.env, [NS_MARK]: '1' },
    });
    for (const s of SIGNALS) process.on(s, () => child.kill(s));
    child.on('error', (e) => {
      report(new MincError(`unshare: ${e.message}`));
      resolve();
    });
    child.on('close', (code, sig) => {
      process.exitCode = code ?? 128 + (SIGNO[sig ?? ''] ?? 9);
      resolve();
    });
  });
}

async function main(): Promise<void> {
  const o = parseArgs(argv);
  if (o.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  if (o.version) {
    process.stdout.write('polecat (mincs-ts) 0.1.0\n');
    return;
  }
  if (o.inspect !== undefined) {
    const { inspect } = await import('./inspect.js');
    process.stdout.write(`${await inspect(o.inspect)}\n`);
    return;
  }
  if (process.getuid?.() !== 0) throw new MincError('building a bundle needs root (it runs the command in a minc sandbox)');
  if (process.env[NS_MARK] !== '1') return again();
  delete process.env[NS_MARK];
  const { build } = await import('./build.js');
  const { endAll } = await import('./tools.js');
  let cleanup = (): void => undefined;
  let ending = false;
  for (const s of SIGNALS) {
    process.on(s, () => {
      if (ending) return;
      ending = true;
      // the minc runs first (each removes its own temp dir), then ours
      void endAll().then(() => {
        cleanup();
        process.exit(128 + SIGNO[s]!);
      });
    });
  }
  const out = await build(o, (c) => (cleanup = c)).finally(() => cleanup());
  process.stderr.write(`polecat: wrote ${out}\n`);
}

process.on('uncaughtException', (err) => {
  report(err);
  process.exit();
});
main().then(() => undefined, report);
