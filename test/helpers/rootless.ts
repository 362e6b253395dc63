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
import { accessSync, chmodSync, chownSync, constants, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
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
  // /dev/fuse and /dev/net/tun are 0666 where udev made them (Debian's rules); a machine without udev has them 0600
  for (const dev of ['/dev/fuse', '/dev/net/tun']) {
    if (existsSync(dev) && (statSync(dev).mode & 0o666) !== 0o666) chmodSync(dev, 0o666);
  }
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
  // the checkout must be reachable for the user (bin/minc, dist/, libexec/): where it is not, a bind of it is
  await checkoutForUsers(uid);
  return {
    name, uid, gid, home, runtime,
    env: { HOME: home, USER: name, LOGNAME: name, XDG_RUNTIME_DIR: runtime, PATH: '/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin', LANG: 'C.UTF-8' },
    ...(sub ? { subuid: Number(sub.split(':')[1]) } : {}),
  };
}

/** Could any user search every directory down to path? */
function openToOthers(path: string): boolean {
  let p = '';
  for (const part of path.split('/').filter(Boolean)) {
    p += `/${part}`;
    accessSync(p, constants.F_OK);
    if ((statSync(p).mode & 0o005) !== 0o005) return false;
  }
  return true;
}

/**
 * Where the users' commands find the checkout: ROOT itself, or where it lies
 * below a directory closed to others (a 0700 /root, a private tmp dir), a
 * bind of it under /var/tmp (named without "minc": the tests look for
 * leftover mounts by that word), made once per test file and undone at exit.
 */
let userRoot: string | undefined;
async function checkoutForUsers(uid: number): Promise<string> {
  if (userRoot) return userRoot;
  const root = ROOT.replace(/\/$/, '');
  if (openToOthers(root)) return (userRoot = ROOT);
  if ((statSync(root).mode & 0o005) !== 0o005) throw new Error(`${root} is not open to other users: the rootless tests run minc as user ${uid} from it`);
  const at = mkdtempSync('/var/tmp/checkout-bind-');
  chmodSync(at, 0o755);
  await execa('mount', ['--bind', root, at]);
  process.once('exit', () => {
    spawnSync('umount', [at]);
    rmSync(at, { recursive: true, force: true });
  });
  return (userRoot = `${at}/`);
}

/** An argument naming a file of the checkout, as the user reaches it. */
const forUser = (a: string): string => (userRoot && userRoot !== ROOT && a.startsWith(ROOT) ? userRoot + a.slice(ROOT.length) : a);

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
  '--reuid', String(user.uid), '--regid', String(user.gid), '--init-groups', '--reset-env', '--', 'env', ...Object.entries(user.env).map(([k, v]) => `${k}=${v}`), forUser(file), ...args.map(forUser),
];

/** Run file args as user; never throws on a non-zero status. */
export function asUser(user: TestUser, file: string, args: readonly string[], opts: Options = {}): Promise<Result> & { kill(signal?: NodeJS.Signals): boolean } {
  return execa('setpriv', asUserArgv(user, file, args), { reject: false, stdin: 'ignore', timeout: 60_000, cwd: '/', ...opts }) as unknown as Promise<Result> & { kill(signal?: NodeJS.Signals): boolean };
}

/** Run bin/minc args as user. */
export const mincAsUser = (user: TestUser, args: readonly string[], opts: Options = {}): Promise<Result> => asUser(user, MINC, args, opts);
