/** `minc --help`, rendered by yargs from the same OPTIONS table the parser uses. */
import { importPackage } from '../cli/loaded.js';
import { OPTIONS } from './spec.js';

export async function renderHelp(): Promise<string> {
  const { default: yargs } = await importPackage<typeof import('yargs')>('yargs');
  const y = yargs([])
    .scriptName('minc')
    .usage('minc - run a command in a throwaway container\n\nUsage: minc [options] [--] [command [args...]]\n\n' +
      'The command (default $SHELL, else /bin/sh) runs in new IPC, UTS, mount and PID namespaces\n' +
      'on a copy-on-write overlay of / (or of --rootdir); what it writes is thrown away.')
    .version(false)
    .help(false)
    .wrap(Math.min(100, process.stdout.columns || 100));
  for (const o of OPTIONS) {
    // no `type`: yargs would print [string]/[boolean]; the value's name leads the text instead
    y.option(o.name, { alias: o.alias, describe: o.value ? `${o.value}  ${o.describe}` : o.describe });
  }
  y.epilogue('Options after the command belong to the command.  Exit status: the command\'s; 128+N when\n' +
    'it was killed by signal N; 127 command not found; 126 not executable; 125 container setup failed;\n' +
    '2 bad usage; 1 other errors.');
  return y.getHelp();
}
