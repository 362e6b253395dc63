/**
 * Man pages and shell completion (issue 10): made from the option tables at
 * build time, listed in package.json's man, and installed by npm install -g
 * (into a prefix the test makes).
 */
import { execa } from 'execa';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OPTIONS } from '../../src/options/spec.js';
import { MARTEN, makeStore, type TestStore } from '../helpers/marten.js';
import { ROOT } from '../helpers/minc.js';
import { makeBusyboxRootfs } from '../helpers/rootfs.js';

let work: string;
let store: TestStore;
let rootfs: { dir: string; remove: () => void };
beforeAll(async () => {
  work = mkdtempSync('/tmp/minc-test-docs-');
  store = makeStore();
  rootfs = makeBusyboxRootfs();
  expect((await store.marten(['import', rootfs.dir, '--name', 'compbox'])).exitCode).toBe(0);
});
afterAll(() => {
  store?.remove();
  rootfs?.remove();
  rmSync(work, { recursive: true, force: true });
});

const render = (page: string): string => execFileSync('man', ['-l', join(ROOT, page)], { encoding: 'utf8', env: { ...process.env, MANWIDTH: '200', MAN_KEEP_FORMATTING: '' } });
/** The commands of marten --help's Commands: block (not its Examples). */
const martenCommands = (): string[] => {
  const help = execFileSync(MARTEN, ['--help'], { encoding: 'utf8' });
  const block = help.slice(help.indexOf('Commands:'), help.indexOf('\n\n', help.indexOf('Commands:')));
  return [...block.matchAll(/^ {2}marten (\S+)/gm)].map((m) => m[1]!);
};

describe('man pages', () => {
  it('man/minc.1 lists every option of the table with its argument name, and the examples', () => {
    const text = render('man/minc.1');
    for (const o of OPTIONS) expect(text, o.name).toContain(`--${o.name}${o.value ? ` ${o.value}` : ''}`);
    expect(text).toMatch(/EXAMPLES\n/);
    expect(text).toContain('minc --dry-run -r ./rootfs true');
  });

  it('man/marten.1 has every command marten --help lists, each with its options', () => {
    const text = render('man/marten.1');
    const cmds = martenCommands();
    expect(cmds).toEqual(expect.arrayContaining(['pull', 'rmi', 'stop', 'logs']));
    for (const c of cmds) {
      expect(text, c).toContain(`marten ${c}`);
      expect(text, c).toContain(`MARTEN ${c.toUpperCase()}`);
    }
    expect(text).toContain('--all-stopped');
  });

  it("package.json's man lists them", () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { man: string[]; files: string[] };
    expect(pkg.man).toEqual(expect.arrayContaining(['man/minc.1', 'man/marten.1']));
    for (const m of pkg.man) expect(existsSync(join(ROOT, m)), m).toBe(true);
    expect(pkg.files).toEqual(expect.arrayContaining(['man', 'completion']));
  });
});

describe('shell completion', () => {
  const bash = (script: string): string => execFileSync('bash', ['-c', `source ${ROOT}completion/minc.bash
comp() { COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMPREPLY=(); "_$1"; printf '%s\\n' "\${COMPREPLY[@]}"; }
${script}`], { encoding: 'utf8', env: { ...process.env, MINCS_DIR: store.dir, PATH: `${ROOT}bin:${process.env.PATH}` } });

  it('bash: minc options, image names after -r, marten commands and image names', () => {
    expect(bash('comp minc --te').trim()).toBe('--tempdir');
    expect(bash('comp minc --p').split('\n')).toEqual(expect.arrayContaining(['--pid-max', '--port', '--pivot', '--preserve-fds']));
    expect(bash('comp minc -r compb').trim()).toBe('compbox');
    expect(bash('comp marten rm').split('\n')).toEqual(expect.arrayContaining(['rm', 'rmi']));
    expect(bash('comp marten rmi comp').trim()).toBe('compbox');
    expect(bash('comp marten help lo').trim()).toBe('logs');
    expect(bash('comp marten l').split('\n')).toEqual(expect.arrayContaining(['list', 'lc', 'li', 'logs']));
  });

  it('zsh: the completion parses and names every option and marten command', () => {
    execFileSync('zsh', ['-n', join(ROOT, 'completion/_minc')]);
    const text = readFileSync(join(ROOT, 'completion/_minc'), 'utf8');
    expect(text.split('\n')[0]).toBe('#compdef minc marten');
    for (const o of OPTIONS) expect(text, o.name).toContain(`--${o.name}`);
    for (const c of martenCommands()) expect(text, c).toContain(`'${c}:`);
  });

  it('npm install -g puts the man pages and completions under the prefix', async () => {
    const pack = await execa('npm', ['pack', '--ignore-scripts', '--pack-destination', work], { cwd: ROOT, reject: false });
    expect(pack.exitCode, pack.stderr).toBe(0);
    const prefix = join(work, 'prefix');
    const tgz = join(work, pack.stdout.trim().split('\n').at(-1)!);
    const inst = await execa('npm', ['install', '-g', '--prefix', prefix, '--no-audit', '--no-fund', '--prefer-offline', tgz], { reject: false, timeout: 120_000 });
    expect(inst.exitCode, inst.stderr).toBe(0);
    expect(realpathSync(join(prefix, 'share/man/man1/minc.1'))).toBe(join(prefix, 'lib/node_modules/mincs-ts/man/minc.1'));
    expect(existsSync(join(prefix, 'share/man/man1/marten.1'))).toBe(true);
    for (const f of ['bash-completion/completions/minc', 'bash-completion/completions/marten', 'zsh/site-functions/_minc']) {
      expect(existsSync(join(prefix, 'share', f)), f).toBe(true);
    }
    expect((await execa(join(prefix, 'bin/minc'), ['--version'])).stdout).toMatch(/^minc \d+\.\d+\.\d+/);
  }, 180_000);
});
