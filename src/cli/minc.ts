/** minc [options] [--] [command [args...]]: the entry point. */
import { MincError, UsageError } from '../errors.js';
import { ranContainer } from './loaded.js';
import { parseArgs } from '../options/parse.js';
import { validate } from '../options/validate.js';
import { imageRun } from '../marten/minc.js';
import { runContainer } from '../run/container.js';
import { gatherFacts } from '../run/facts.js';
import { enableDebug, writeFd } from '../run/log.js';

async function main(argv: readonly string[]): Promise<number> {
  const args = parseArgs(argv);
  if (args.help) {
    const { renderHelp } = await import('../options/help.js');
    writeFd(1, `${await renderHelp()}\n`);
    return 0;
  }
  if (args.version) {
    const { packageVersion } = await import('../version.js');
    writeFd(1, `minc ${packageVersion()}\n`);
    return 0;
  }
  const colour = args.debug ? await enableDebug() : undefined;
  if (args.doctor) {
    const { doctor } = await import('../doctor.js');
    return doctor();
  }
  if (args.gc) {
    const { gc } = await import('../gc.js');
    return gc();
  }
  if (args.stop !== undefined) {
    const { stop } = await import('../run/background.js');
    return stop(args.stop);
  }
  if (args.summary !== undefined || args.apply !== undefined || args.undo !== undefined) {
    const { reviewCommand } = await import('../review/cli.js');
    return reviewCommand(args);
  }
  if (args.qemu || args.qemuTcg || args.qemuKernel !== undefined) {
    const { runVm } = await import('../vm/run.js'); // nothing of src/vm/ loads on a plain run's path
    return runVm(args, gatherFacts());
  }
  if (args.review && args.background) throw new UsageError('--review asks on the terminal: it cannot run in the background (-B)');
  // -r IMAGE / -t CONTAINER: the store's business (marten), looked up here so the validation pass stays below it
  // (a user's own store for a user: src/marten/store.ts)
  const image = imageRun(args.rootdir, args.tempdir);
  const config = validate(args.review ? { ...args, keep: true } : args, process.env, image);
  const facts = gatherFacts();
  if (config.dryRun) {
    const { dryRun } = await import('../dryrun.js');
    return dryRun(config, facts);
  }
  if (config.background || process.env.MINC_BG_DIR !== undefined) {
    const { background } = await import('../run/background.js');
    return background(config, facts, colour);
  }
  let tempdir = '';
  const status = await runContainer(config, facts, colour, (dir) => (tempdir = dir));
  ranContainer(); // the code cache written now holds the whole run path (src/cli/load.ts)
  if (args.review && tempdir) {
    const { reviewAfterRun } = await import('../review/prompt.js');
    const applied = reviewAfterRun(tempdir, { keep: args.keep || args.tempdir !== undefined, exclude: args.exclude, force: args.force });
    return status !== 0 ? status : applied; // (a user's apply that left some changes: 1)
  }
  return status;
}

const argv = process.argv.slice(2);
main(argv).then(
  (status) => {
    process.exitCode = status;
  },
  (err: unknown) => {
    const debug = argv.includes('--debug');
    if (err instanceof MincError) {
      writeFd(2, `minc: ${err.message}\n`);
      if (debug && err.stack) writeFd(2, `${err.stack}\n`);
      process.exitCode = err.status;
    } else {
      const e = err instanceof Error ? err : new Error(String(err));
      writeFd(2, `minc: ${e.message}\n`);
      if (debug && e.stack) writeFd(2, `${e.stack}\n`);
      process.exitCode = 1;
    }
  },
);
