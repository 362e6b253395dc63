/**
 * marten for an ordinary user (issue 11), run as a real unprivileged user the
 * test makes (test/helpers/rootless.ts): its own store under
 * ~/.local/share/mincs, imports and pulls unpacked without root, commits,
 * exports and pushes of its containers, removals of trees its subordinate ids
 * own.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeUser, type RootlessUser } from '../helpers/rootless.js';

let user: RootlessUser;
let work: string;

beforeAll(() => {
  user = makeUser();
  work = mkdtempSync('/tmp/marten-rootless-');
  execFileSync('chmod', ['755', work]);
});

afterAll(() => {
  user?.remove();
  if (work) rmSync(work, { recursive: true, force: true });
});

/** One `marten: ...` line on stderr, and a failure status. */
const refusedCleanly = (r: { exitCode: number; stderr: string }, re: RegExp): void => {
  expect(r.exitCode, r.stderr).not.toBe(0);
  const lines = r.stderr.trim().split('\n');
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^marten: /);
  expect(lines[0]).toMatch(re);
};

describe('a user\'s store', () => {
  it('is ~/.local/share/mincs (0700, the user\'s), or $XDG_DATA_HOME/mincs; root\'s store is not touched', async () => {
    const rootStore = existsSync('/var/lib/mincs') ? statSync('/var/lib/mincs').mtimeMs : null;
    const r = await user.marten(['images']);
    expect(r.exitCode, r.stderr).toBe(0);
    const store = join(user.home, '.local/share/mincs');
    expect(existsSync(store)).toBe(false); // listing makes nothing
    expect((await user.run('sh', ['-c', 'mkdir -p r/etc && echo x > r/etc/x'])).exitCode).toBe(0);
    const imp = await user.marten(['import', join(user.home, 'r'), '--name', 'mine']);
    expect(imp.exitCode, imp.stderr).toBe(0);
    expect((await user.marten(['images'])).stdout).toMatch(/mine/);
    const st = statSync(store);
    expect(st.uid).toBe(user.uid);
    expect(st.mode & 0o777).toBe(0o700);
    const xdg = mkdtempSync(join(work, 'xdg-'));
    execFileSync('chown', [`${user.uid}:${user.gid}`, xdg]);
    expect((await user.marten(['import', join(user.home, 'r'), '--name', 'other'], { extraEnv: { XDG_DATA_HOME: xdg } })).exitCode).toBe(0);
    expect(statSync(join(xdg, 'mincs')).uid).toBe(user.uid);
    expect((await user.marten(['images'], { extraEnv: { XDG_DATA_HOME: xdg } })).stdout).not.toMatch(/mine/);
    expect(existsSync('/var/lib/mincs') ? statSync('/var/lib/mincs').mtimeMs : null).toBe(rootStore);
  });

  it('refuses another user\'s store (root\'s) named by MINCS_DIR with one line, reading and writing alike', async () => {
    // a store as root keeps it: root-owned, 0700, with an image in it
    const rootStore = mkdtempSync(join(work, 'root-store-'));
    execFileSync('chmod', ['700', rootStore]);
    const env = { MINCS_DIR: rootStore };
    refusedCleanly(await user.marten(['images'], { extraEnv: env }), /belongs to uid 0, not to you/);
    refusedCleanly(await user.marten(['lc'], { extraEnv: env }), /belongs to uid 0/);
    refusedCleanly(await user.marten(['prune'], { extraEnv: env }), /belongs to uid 0/);
    // even one open to others is not the user's to change
    execFileSync('chmod', ['755', rootStore]);
    refusedCleanly(await user.marten(['import', user.home, '--name', 'x'], { extraEnv: env }), /belongs to uid 0/);
    expect(execFileSync('ls', ['-A', rootStore], { encoding: 'utf8' })).toBe('');
  });
});
