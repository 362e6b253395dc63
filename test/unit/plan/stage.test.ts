/** Functions of libexec/minc-stage on their own (sourced by a plain sh, no namespaces). */
import { spawnSync } from 'node:child_process';
import { lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const STAGE = readFileSync(fileURLToPath(new URL('../../../libexec/minc-stage', import.meta.url)), 'utf8');

const scratch = mkdtempSync('/tmp/minc-unit-stage-');
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** sh: the stage's functions, then script (steps leave their stderr in a file of scratch) */
const sh = (script: string, cwd = scratch) => spawnSync('/bin/sh', ['-c',
  `${STAGE}\nMINC_DEBUG=0 MINC_TEMPDIR=${scratch} MINC_MKDIR=/bin/mkdir MINC_READLINK=/bin/readlink MINC_RM=/bin/rm MINC_LN=/bin/ln minc_errf=${scratch}/step.err\n${script}`], { encoding: 'utf8', cwd });

describe('step', () => {
  it('runs the step and goes on when it succeeds', () => {
    const r = sh(`step 'first' true; echo after`);
    expect(r.stdout).toBe('after\n');
    expect(r.status).toBe(0);
  });

  it('a failed step ends the run with 125 and one line naming it', () => {
    const r = sh(`step 'Mount the thing' sh -c 'exit 3'; echo after`);
    expect(r.stdout).toBe('');
    expect(r.status).toBe(125);
    expect(r.stderr).toBe("minc: Mount the thing: 'sh -c exit 3' failed (status 3)\n");
  });

  for (const [sig, status] of [['HUP', 129], ['INT', 130], ['QUIT', 131], ['TERM', 143]] as const) {
    it(`a step killed by ${sig} (the user stopping the set-up) ends the run with ${status} and no message of minc's`, () => {
      const r = sh(`step 'Mount the thing' sh -c 'kill -${sig} $$'; echo after`);
      expect(r.stdout).toBe('');
      expect(r.stderr).not.toMatch(/minc:/); // (sh's own word for the signal aside)
      expect(r.status).toBe(status);
    });
  }

  it('a step killed by KILL (the OOM killer, say) is a failure with a message', () => {
    const r = sh(`step 'Mount the thing' sh -c 'kill -KILL $$'`);
    expect(r.status).toBe(125);
    expect(r.stderr).toMatch(/^minc: Mount the thing: .* failed \(status 137\)$/m);
  });

  it("a failed tool's own words join the step's reason in one line", () => {
    const r = sh(`step 'Mount the thing' sh -c 'echo "mount: /x: mount point does not exist." >&2; echo "  dmesg(1) may have more" >&2; exit 32'`);
    expect(r.status).toBe(125);
    expect(r.stderr).toBe('minc: Mount the thing: mount: /x: mount point does not exist.; dmesg(1) may have more\n');
  });

  it('a step that succeeds with a warning still shows it; step_out leaves stderr alone', () => {
    const r = sh(`step 'Warn' sh -c 'echo careful >&2'; step_out 'Talk' sh -c 'echo direct >&2; exit 4'`);
    expect(r.stderr).toBe("careful\ndirect\nminc: Talk: 'sh -c echo direct >&2; exit 4' failed (status 4)\n");
    expect(r.status).toBe(125);
  });
});

describe('in_root: a path resolved inside a root as the container sees it', () => {
  let n = 0;
  /** A fresh root below scratch with links (name -> target) and dirs. */
  function root(links: Record<string, string> = {}, dirs: string[] = []): string {
    const r = join(scratch, `root${++n}`);
    mkdirSync(r);
    for (const d of dirs) mkdirSync(join(r, d), { recursive: true });
    for (const [at, to] of Object.entries(links)) symlinkSync(to, join(r, at));
    return r;
  }
  const resolve = (r: string, path: string, kind: 'dir' | 'file') => sh(`in_root '${r}' '${path}' ${kind} && printf '%s' "$minc_at"`);
  const outside = join(scratch, 'outside');
  mkdirSync(outside);

  const cases: [string, Record<string, string>, string[], string, 'dir' | 'file', string][] = [
    ['a plain path, made', {}, [], '/a/b/c', 'dir', '/a/b/c'],
    ['a file at the end, made', {}, ['a'], '/a/f', 'file', '/a/f'],
    ['an absolute link starts again at the root', { l: outside }, [], '/l/x', 'dir', `${outside}/x`],
    ['a relative link climbing out stops at the root', { l: '../../../../..' }, [], '/l/x', 'dir', '/x'],
    ['.. in the path stops at the root', {}, [], '/../../y/./z', 'dir', '/y/z'],
    ['a chain of links', { a: '/b/c', b: 'd' }, ['d'], '/a/e', 'dir', '/d/c/e'],
    ['a link at the last component of a file', { f: `${outside}/f` }, [], '/f', 'file', `${outside}/f`],
    ['a dangling relative link', { f: 'g/h' }, [], '/f', 'file', '/g/h'],
  ];
  for (const [what, links, dirs, path, kind, want] of cases) {
    it(`${what}: ${path} -> ${want}`, () => {
      const r = root(links, dirs);
      const before = readdirSync(outside);
      const out = resolve(r, path, kind);
      expect(out.stderr).toBe('');
      expect(out.stdout).toBe(`${r}${want}`);
      expect(lstatSync(out.stdout)[kind === 'dir' ? 'isDirectory' : 'isFile']()).toBe(true);
      expect(readdirSync(outside)).toEqual(before);
    });
  }

  it('an existing file is used as it is; a link at it is never written through', () => {
    writeFileSync(join(outside, 'victim'), 'host\n');
    const r = root({ v: join(outside, 'victim') });
    writeFileSync(join(r, 'plain'), 'kept\n');
    expect(resolve(r, '/plain', 'file').stdout).toBe(`${r}/plain`);
    expect(readFileSync(join(r, 'plain'), 'utf8')).toBe('kept\n');
    expect(resolve(r, '/v', 'file').stdout).toBe(`${r}${outside}/victim`);
    expect(readFileSync(join(outside, 'victim'), 'utf8')).toBe('host\n');
    expect(readlinkSync(join(r, 'v'))).toBe(join(outside, 'victim'));
  });

  it('a link loop, and a file on the way, are one line each', () => {
    const loop = resolve(root({ a: '/b', b: 'a' }), '/a/x', 'dir');
    expect(loop.status).not.toBe(0);
    expect(loop.stderr).toBe('/a/x: too many levels of symbolic links\n');
    const r = root();
    writeFileSync(join(r, 'file'), '');
    const notdir = resolve(r, '/file/x', 'dir');
    expect(notdir.status).not.toBe(0);
    expect(notdir.stderr).toBe('/file/x: /file is not a directory\n');
  });

  it('a link target with spaces, a newline and bytes that are not UTF-8', () => {
    const name = Buffer.from('sp ace\nnl\xff', 'latin1');
    const r = root();
    symlinkSync(Buffer.concat([Buffer.from('/'), name]), join(r, 'l'));
    const out = spawnSync('/bin/sh', ['-c', `${STAGE}\nMINC_TEMPDIR=${scratch} MINC_MKDIR=/bin/mkdir MINC_READLINK=/bin/readlink\nin_root "$1" /l/x dir && printf '%s' "$minc_at"`, 'sh', r], { cwd: scratch });
    expect(out.stderr.toString()).toBe('');
    expect(out.stdout).toEqual(Buffer.concat([Buffer.from(`${r}/`), name, Buffer.from('/x')]));
  });
});
