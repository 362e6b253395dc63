/**
 * Running minc as a real unprivileged user (issue 11): a user the test file
 * makes with useradd (Debian's useradd gives it subordinate uid and gid
 * ranges), commands run as it through `setpriv --reuid --regid
 * --init-groups`, with its own HOME and XDG_RUNTIME_DIR (a 0700 dir the test
 * makes, as pam_systemd would).  The checkout must be readable by that user:
 * where a parent of it is not (a 0700 /root, a private tmp dir), the tests
 * cannot run as a user, and say so.
 */
import { execa, type Options, type Result } from 'execa';
import { accessSync, chmodSync, chownSync, constants, existsSync, mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { MINC, ROOT } from './minc.js';

export interface TestUser {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
  readonly home: string;
  /** its XDG_RUNTIME_DIR */
  readonly runtime: string;
  /** the env its commands get */
  readonly env: Record<string, string>;
  /** the user's first subordinate uid, if it has a range */
  readonly subuid?: number;
}

const ids = (name: string): { uid: number; gid: number } => {
  const line = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith(`${name}:`));
  if (!line) throw new Error(`no user ${name}`);
  const f = line.split(':');
  return { uid: Number(f[2]), gid: Number(f[3]) };
};

/** Make a fresh user (with subordinate ranges unless `subids: false`). */
export async function makeUser({ subids = true }: { subids?: boolean } = {}): Promise<TestUser> {
  const name = `mincsr${randomBytes(3).toString('hex')}`;
  await execa('useradd', ['-m', '-s', '/bin/sh', name]);
  const { uid, gid } = ids(name);
  if (!subids) await dropSubids(name);
  const home = `/home/${name}`;
  const runtime = `/run/user/${uid}`;
  mkdirSync(runtime, { recursive: true, mode: 0o700 });
  // a tmpfs, as pam_systemd mounts it at login
  await execa('mount', ['-t', 'tmpfs', '-o', `mode=700,uid=${uid},gid=${gid},size=256m`, 'mincs-test-runtime', runtime]);
  chownSync(runtime, uid, gid);
  chmodSync(runtime, 0o700);
  const sub = readFileSync('/etc/subuid', 'utf8').split('\n').find((l) => l.startsWith(`${name}:`));
  // the checkout must be reachable for the user (bin/minc, dist/, libexec/)
  accessAsUser(ROOT, uid);
  return {
    name, uid, gid, home, runtime,
    env: { HOME: home, USER: name, LOGNAME: name, XDG_RUNTIME_DIR: runtime, PATH: '/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin', LANG: 'C.UTF-8' },
    ...(sub ? { subuid: Number(sub.split(':')[1]) } : {}),
  };
}

/** Throws when uid could not read and search every directory down to path (other-permissions: the user owns none of them). */
function accessAsUser(path: string, uid: number): void {
  let p = '';
  for (const part of path.split('/').filter(Boolean)) {
    p += `/${part}`;
    accessSync(p, constants.F_OK);
    const mode = statSync(p).mode;
    if ((mode & 0o005) !== 0o005) throw new Error(`${p} is not open to other users (mode ${(mode & 0o777).toString(8)}): the rootless tests run minc as user ${uid} from ${path}`);
  }
}

/** Remove the user, its home and runtime dir (after killing what it left running). */
export async function removeUser(user: TestUser): Promise<void> {
  await execa('pkill', ['-KILL', '-u', String(user.uid)], { reject: false });
  await execa('userdel', ['-r', '-f', user.name], { reject: false });
  await execa('umount', [user.runtime], { reject: false });
  rmSync(user.runtime, { recursive: true, force: true });
  await dropSubids(user.name);
}

/** The user's lines out of /etc/subuid and /etc/subgid. */
async function dropSubids(name: string): Promise<void> {
  for (const f of ['/etc/subuid', '/etc/subgid']) {
    if (existsSync(f) && readFileSync(f, 'utf8').includes(`${name}:`)) await execa('sed', ['-i', `/^${name}:/d`, f], { reject: false });
  }
}

/** The argv that runs file args as user. */
export const asUserArgv = (user: TestUser, file: string, args: readonly string[]): string[] => [
  '--reuid', String(user.uid), '--regid', String(user.gid), '--init-groups', '--reset-env', '--', 'env', ...Object.entries(user.env).map(([k, v]) => `${k}=${v}`), file, ...args,
];

/** Run file args as user; never throws on a non-zero status. */
export function asUser(user: TestUser, file: string, args: readonly string[], opts: Options = {}): Promise<Result> {
  return execa('setpriv', asUserArgv(user, file, args), { reject: false, stdin: 'ignore', timeout: 60_000, cwd: '/', ...opts }) as Promise<Result>;
}

/** Run bin/minc args as user. */
export const mincAsUser = (user: TestUser, args: readonly string[], opts: Options = {}): Promise<Result> => asUser(user, MINC, args, opts);
