/**
 * A real unprivileged user for the rootless tests: made with `useradd -m`
 * (Debian's useradd gives it /etc/subuid and /etc/subgid ranges), commands
 * run as it through `setpriv --reuid --regid --init-groups` with its own HOME
 * and XDG_RUNTIME_DIR, and deleted (with its home) by remove().
 */
import { execFileSync } from 'node:child_process';
import { chownSync, cpSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { execa, type Options } from 'execa';
import { ROOT } from './minc.js';

export interface Run {
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface Range {
  readonly start: number;
  readonly count: number;
}

export interface RootlessUser {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
  readonly home: string;
  /** its XDG_RUNTIME_DIR: a 0700 dir of its own under /tmp */
  readonly runtimeDir: string;
  readonly subuid: Range | null;
  readonly subgid: Range | null;
  /** the checkout as this user can read it (ROOT, or a copy of what runs when a parent of ROOT is closed to it) */
  readonly root: string;
  /** the environment a command of the user gets (plus extra) */
  env(extra?: Record<string, string>): Record<string, string>;
  /** run file args as the user (never rejecting) */
  run(file: string, args: readonly string[], opts?: Options & { extraEnv?: Record<string, string> }): Promise<Run>;
  /** bin/marten as the user */
  marten(args: readonly string[], opts?: Options & { extraEnv?: Record<string, string> }): Promise<Run>;
  minc(args: readonly string[], opts?: Options & { extraEnv?: Record<string, string> }): Promise<Run>;
  remove(): void;
}

function range(file: string, name: string, uid: number): Range | null {
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const [who, start, count] = line.split(':');
    if ((who === name || who === String(uid)) && start && count) return { start: Number(start), count: Number(count) };
  }
  return null;
}

/** Can uid read and traverse every directory from / down to dir? (others' bits: the user is in none of the groups) */
function openToOthers(dir: string): boolean {
  for (let d = dir; ; d = dirname(d)) {
    if ((statSync(d).mode & 0o005) !== 0o005) return false;
    if (d === '/') return true;
  }
}

/** The checkout a user can run: ROOT itself when every parent is open to others, else a copy of what runs under base. */
function readableCheckout(base: string): string {
  const root = ROOT.replace(/\/$/, '');
  if (openToOthers(root)) return `${root}/`;
  const copy = join(base, 'checkout');
  for (const part of ['bin', 'dist', 'libexec', 'node_modules', 'package.json']) {
    cpSync(join(root, part), join(copy, part), { recursive: true, verbatimSymlinks: true });
  }
  execFileSync('chmod', ['-R', 'go+rX', copy]);
  return `${copy}/`;
}

export function makeUser(): RootlessUser {
  const name = `mincsr${randomBytes(4).toString('hex')}`;
  execFileSync('useradd', ['-m', '-s', '/bin/sh', name]);
  const uid = Number(execFileSync('id', ['-u', name], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', name], { encoding: 'utf8' }).trim());
  const home = execFileSync('getent', ['passwd', name], { encoding: 'utf8' }).split(':')[5]!;
  const scratch = mkdtempSync('/tmp/mincsr-test-');
  execFileSync('chmod', ['755', scratch]);
  const runtimeDir = mkdtempSync(join(scratch, 'run-'));
  chownSync(runtimeDir, uid, gid);
  const root = readableCheckout(scratch);
  const env = (extra: Record<string, string> = {}): Record<string, string> => ({
    PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    HOME: home,
    USER: name,
    LOGNAME: name,
    XDG_RUNTIME_DIR: runtimeDir,
    LANG: 'C.UTF-8',
    ...extra,
  });
  const run = async (file: string, args: readonly string[], opts: Options & { extraEnv?: Record<string, string> } = {}): Promise<Run> => {
    const { extraEnv, ...rest } = opts;
    const argv = ['--reuid', String(uid), '--regid', String(gid), '--init-groups', 'env', '-i', ...Object.entries(env(extraEnv)).map(([k, v]) => `${k}=${v}`), file, ...args];
    const r = await execa('setpriv', argv, { reject: false, stdin: 'ignore', timeout: 120_000, cwd: home, ...rest, extendEnv: false, env: {} });
    return { exitCode: r.exitCode ?? 128, stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? '') };
  };
  return {
    name,
    uid,
    gid,
    home,
    runtimeDir,
    subuid: range('/etc/subuid', name, uid),
    subgid: range('/etc/subgid', name, uid),
    root,
    env,
    run,
    marten: (args, opts) => run(`${root}bin/marten`, args, opts),
    minc: (args, opts) => run(`${root}bin/minc`, args, opts),
    remove: () => {
      // files chowned to its subordinate ids go with the home too (root removes them)
      try {
        execFileSync('userdel', ['-r', '-f', name], { stdio: 'ignore' });
      } catch {
        /* a mail spool it never had: the user is gone all the same */
      }
      rmSync(home, { recursive: true, force: true });
      rmSync(scratch, { recursive: true, force: true });
    },
  };
}
