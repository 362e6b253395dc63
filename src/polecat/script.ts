/**
 * -s FILE, MINCS's build-script mode: the script sets COMMAND, MKDIRS and
 * RMDIRS and defines install_command.  install_command runs in a kept minc
 * sandbox of the root (its writes land in that sandbox's upper dir); the
 * root with those writes on top is then mounted read-only for the trapper.
 */
import { copyFileSync, lstatSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { MincError, UsageError } from '../errors.js';
import { walkTree } from './collect.js';
import { mountLayers } from './source.js';
import { DEFAULT_PATH } from './trapper.js';
import { mincPath, OUT_AT, TOOLS_AT, track, type Tools } from './tools.js';

export interface Installed {
  root: string;
  command: string[];
  /** what the install wrote, root-relative */
  entries: Buffer[];
  mkdirs: string[];
  rmdirs: string[];
}

const WRAPPER = `set -e
COMMAND= MKDIRS= RMDIRS=
. ${OUT_AT}/script
install_command
printf '%s\\n' "$COMMAND" > ${OUT_AT}/COMMAND
printf '%s\\n' "$MKDIRS" > ${OUT_AT}/MKDIRS
printf '%s\\n' "$RMDIRS" > ${OUT_AT}/RMDIRS
`;

const words = (s: string): string[] => s.split(/\s+/).filter(Boolean);

export async function runScript(script: string, root: string, work: string, tools: Tools, debug: boolean): Promise<Installed> {
  const out = join(work, 'out');
  try {
    copyFileSync(script, join(out, 'script'));
  } catch {
    throw new UsageError(`${script}: cannot read the script`);
  }
  writeFileSync(join(out, 'install.sh'), WRAPPER);
  const inst = join(work, 'install');
  const argv = [mincPath(), '-r', root, '-t', inst, '-b', `${join(work, 'tools')}:${TOOLS_AT}:ro`, '-b', `${out}:${OUT_AT}`, '--', ...tools.prefix('dash'), `${OUT_AT}/install.sh`];
  if (debug) process.stderr.write(`polecat: running ${argv.join(' ')}\n`);
  process.stderr.write('polecat: --- installation stage ---\n');
  const status = await new Promise<number>((res, rej) => {
    const p = spawn(process.execPath, argv, { stdio: ['ignore', 2, 2], env: { ...process.env, PATH: DEFAULT_PATH } });
    track(p);
    p.on('error', rej);
    p.on('close', (code) => res(code ?? 128));
  });
  if (status !== 0) throw new MincError(`the script's install_command failed (status ${status})`);
  const read = (n: string): string => readFileSync(join(out, n), 'utf8');
  const command = words(read('COMMAND'));
  if (command.length === 0) throw new UsageError(`${script}: sets no COMMAND`);
  const storage = join(inst, 'storage');
  const entries: Buffer[] = [];
  walkTree(storage, Buffer.alloc(0), entries);
  // what minc made for its own set-up (mount points, /etc files) is not the install's
  let made: Set<string>;
  try {
    made = new Set(readFileSync(join(inst, 'made'), 'latin1').split('\n').filter(Boolean).map((l) => l.replace(/^\/+/, '')));
  } catch {
    made = new Set();
  }
  const kept = entries.filter((e) => {
    const top = e.toString('latin1').split('/')[0];
    if (top === '.polecat-tools' || top === '.polecat-out' || made.has(e.toString('latin1'))) return false;
    const st = lstatSync(Buffer.concat([Buffer.from(`${storage}/`), e]));
    return !(st.isCharacterDevice() && st.rdev === 0); // a whiteout: deleted, not written
  });
  const merged = await mountLayers([storage, root], join(work, 'installed'));
  return { root: merged, command, entries: kept, mkdirs: words(read('MKDIRS')), rmdirs: words(read('RMDIRS')) };
}
