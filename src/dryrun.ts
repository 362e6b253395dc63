/** --dry-run: print the whole plan, host side and namespace side, without running it. */
import type { Config } from './options/validate.js';
import { buildPlan } from './plan/build.js';
import { describeSteps, shQuote } from './plan/render.js';
import { launcherArgv } from './run/container.js';
import type { Facts } from './run/facts.js';
import { tempBase } from './run/tempdir.js';
import { describeHost, dryLauncher } from './host/run.js';
import { writeFd } from './run/log.js';

export function dryRun(config: Config, facts: Facts): number {
  const tempdir = config.tempdir ?? `${tempBase()}/minc${process.pid}-XXXXXX`;
  const out: string[] = [
    `# minc plan (dry run): nothing is created or mounted`,
    `:;: Make the temporary directory${config.tempdir ? ' (reused)' : ''} ;:\n+ mkdir -p ${shQuote(tempdir)}/root ${shQuote(tempdir)}/storage ${shQuote(tempdir)}/work`,
    `:;: Write resolv.conf, hosts, utsname and settings into it ;:`,
  ];
  const plan = buildPlan({ config, facts, tempdir });
  // (a mount table's lines are shown with their steps below)
  const tables = new Set(plan.steps.map((st) => st.table).filter(Boolean));
  for (const [name, content] of Object.entries(plan.files ?? {}).filter(([n]) => !tables.has(n))) {
    if (typeof content !== 'string') out.push(`:;: Link ${name} -> ${content.symlink} in it ;:`);
    else out.push(`:;: Write ${name} into it ;:`, ...content.split('\n').filter(Boolean).map((l) => `# ${l}`));
  }
  out.push(...describeHost(config, tempdir)); // network, cgroups, --cpu: before the namespaces
  const argv = dryLauncher(config, facts, tempdir, launcherArgv(facts, config.command, config));
  out.push(`:;: Enter new IPC, UTS, mount and PID namespaces and run the steps below there (libexec/minc-stage + the plan, in $MINC_STAGE) ;:\n+ ${argv.map(shQuote).join(' ')}`);
  out.push(...describeSteps(plan.steps));
  if (!config.keep) out.push(`:;: After the command: remove the temporary directory ;:\n+ rm -rf ${shQuote(tempdir)}`);
  writeFd(1, `${out.join('\n')}\n`);
  return 0;
}
