/**
 * The validation pass (bubblewrap's style): everything the options name is
 * checked here, before anything is created, so bad input ends the run with one
 * clear line and leaves nothing behind.
 */
import { realpathSync } from 'node:fs';
import { readInRoot, resolveInRoot } from '../fs/inroot.js';
import { join } from 'node:path';
import { UsageError } from '../errors.js';
import { CAPABILITIES } from '../plan/paths.js';
import { checkedSettings, type Settings } from '../run/settings.js';
import { checkTempdir } from '../run/reuse.js';
import type { MincArgs } from './parse.js';
import { callerFd } from '../run/fds.js';
import type { ImageRun } from '../marten/minc.js';
import { validateExtra, x11Binds, type ExtraConfig } from './hostopts.js';
import { parseBind, parseHide, statOrNull, type Bind } from './binds.js';

export { parseBind, parseHide, type Bind };
import { isRootless, rootlessConfig, type RootlessConfig } from './rootless.js';
import { foreignImage, validateCross, type CrossConfig } from './cross.js';

export interface Config extends ExtraConfig {
  readonly command: readonly string[];
  readonly rootdir: string;
  readonly direct: boolean;
  readonly keep: boolean;
  /** an existing temporary directory to reuse (-t), checked by src/run/reuse.ts */
  readonly tempdir?: string;
  /** -t names a new path, or an empty directory: minc makes it its own */
  readonly freshTempdir?: boolean;
  readonly name?: string;
  readonly binds: readonly Bind[];
  /** paths (absolute, in the container) that show empty (--hide) */
  readonly hide?: readonly string[];
  readonly user?: { readonly uid: number; readonly gid: number; readonly groups?: readonly number[]; readonly env?: readonly string[] };
  readonly usedev: boolean;
  readonly nocaps?: readonly string[];
  readonly asPid1: boolean;
  readonly preserveFds: number;
  readonly debug: boolean;
  readonly dryRun: boolean;
  /** overlay lowerdirs, top first, instead of rootdir (an image's layers) */
  readonly layers?: readonly string[];
  /** NAME=VALUE set for the command, and its working directory (an image's Env and WorkingDir) */
  readonly env?: readonly string[];
  readonly workdir?: string;
  /** -r IMAGE / -t CONTAINER of the store (src/marten/minc.ts) */
  readonly image?: ImageRun;
  /** --rm: the container -r IMAGE makes goes when the run ends */
  readonly rm?: boolean;
  /** a rootless run (a user who is not root, or --nopriv): src/options/rootless.ts, src/rootless/ */
  readonly rootless?: RootlessConfig;
  /** --cross ARCH: the interpreter and its binfmt_misc line (src/options/cross.ts, src/plan/cross.ts) */
  readonly cross?: CrossConfig;
}

function directory(what: string, path: string): string {
  const st = statOrNull(path);
  if (!st) throw new UsageError(`${what} '${path}': no such directory`);
  if (!st.isDirectory()) throw new UsageError(`${what} '${path}': not a directory`);
  return realpathSync(path);
}

/**
 * The lines of /etc/passwd or /etc/group in the container's root (the upper
 * dir of a reused temp dir over the root directory or an image's layers),
 * read inside it (src/fs/inroot.ts): a link there cannot make minc read a
 * host file, nor a device forever.
 */
function rootFile(file: string, roots: readonly string[], what: string): string[][] {
  let text: Buffer | null;
  try {
    text = readInRoot(roots, file);
  } catch (err) {
    throw new UsageError(`${what}: ${err instanceof Error ? err.message : String(err)}`);
  }
  return text === null ? [] : text.toString('latin1').split('\n').map((l) => l.split(':'));
}

/** The entry whose name or id is key. */
const lookup = (entries: string[][], key: string): string[] | null => entries.find((f) => f[0] === key || f[2] === key) ?? null;

/** Supplementary groups of a user: the groups of /etc/group that list the name. */
const groupsOf = (name: string | undefined, groups: string[][]): number[] =>
  name ? groups.filter((f) => (f[3] ?? '').split(',').includes(name) && /^\d+$/.test(f[2] ?? '')).map((f) => Number(f[2])) : [];

export function parseUser(spec: string, roots: readonly string[]): { uid: number; gid: number; groups: number[]; env: string[] } {
  const [u, g, extra] = spec.split(':');
  if (!u || extra !== undefined || g === '') throw new UsageError(`--user '${spec}': expected UID[:GID]`);
  const numeric = (x: string): boolean => /^\d+$/.test(x);
  const what = `--user '${spec}'`;
  const pw = lookup(rootFile('/etc/passwd', roots, what), u);
  if (pw && !(numeric(pw[2] ?? '') && numeric(pw[3] ?? ''))) throw new UsageError(`${what}: the container's /etc/passwd has a malformed entry for '${u}'`);
  let uid: number;
  if (numeric(u)) uid = Number(u);
  else if (pw) uid = Number(pw[2]);
  else throw new UsageError(`${what}: no user '${u}' in the container's /etc/passwd (use a number)`);
  const groups = rootFile('/etc/group', roots, what);
  let gid: number;
  if (g === undefined) gid = pw ? Number(pw[3]) : 0;
  else if (numeric(g)) gid = Number(g);
  else {
    const gr = lookup(groups, g);
    if (!gr || !numeric(gr[2] ?? '')) throw new UsageError(`${what}: no group '${g}' in the container's /etc/group (use a number)`);
    gid = Number(gr[2]);
  }
  // HOME, USER and LOGNAME from the entry, as `su -` and `docker run --user` set them (HOME=/ without one)
  const named = pw && Number(pw[2]) === uid ? pw : lookup(rootFile('/etc/passwd', roots, what), String(uid));
  const env = named?.[0] ? [`HOME=${named[5] || '/'}`, `USER=${named[0]}`, `LOGNAME=${named[0]}`] : ['HOME=/'];
  return { uid, gid, groups: groupsOf(pw?.[0], groups), env };
}

/** The host's $SHELL where the container's root has it, else /bin/sh (a busybox rootfs has no /bin/bash). */
function shellIn(roots: readonly string[], shell: string | undefined): string {
  if (!shell) return '/bin/sh';
  if (!shell.startsWith('/')) return shell; // a name, looked up in the container's PATH (MINCS's tests run SHELL=ps)
  try {
    return resolveInRoot(roots, shell) ? shell : '/bin/sh';
  } catch {
    return '/bin/sh';
  }
}

function parseCaps(spec: string): string[] {
  const caps = spec.split(',').filter(Boolean).map((c) => c.toLowerCase());
  if (caps.length === 0) throw new UsageError(`--nocaps '${spec}': no capability named`);
  return caps.map((c) => {
    if (c === 'all') return c;
    const name = c.startsWith('cap_') ? c : `cap_${c}`;
    if (!CAPABILITIES.includes(name)) throw new UsageError(`--nocaps: unknown capability '${c}' (see capsh --supports, man 7 capabilities)`);
    return name;
  });
}

/**
 * image: what -r IMAGE / -t CONTAINER name in the store, resolved by the
 * caller (src/cli/minc.ts: marten's imageRun), so this pass stays below the
 * store; null when they name directories.
 */
export function validate(args: MincArgs, env: NodeJS.ProcessEnv = process.env, image: ImageRun | null = null): Config {
  const rootless = isRootless(args.nopriv);
  if (args.nopriv !== undefined && (args.rootdir !== undefined || image)) throw new UsageError('--nopriv DIR names the root directory itself: leave out -r');
  if (args.rm && (!image || image.container || args.keep)) {
    throw new UsageError('--rm removes the container a run of -r IMAGE makes: it goes with -r IMAGE only, not with -t or -k');
  }
  if (image && args.direct) throw new UsageError('--direct cannot be used with an image: its layers are read-only');
  let tempdir: string | undefined;
  let saved: Settings | null = null;
  let freshTempdir = false;
  if (args.tempdir !== undefined) {
    const reuse = checkTempdir(image?.container ?? args.tempdir, { container: Boolean(image?.container) });
    tempdir = reuse.dir;
    freshTempdir = reuse.fresh;
    try {
      saved = reuse.fresh ? null : checkedSettings(tempdir);
    } catch (err) {
      throw new UsageError(`--tempdir '${args.tempdir}': ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  // --cross, or the one a reused temp dir was made with
  const crossArch = args.cross ?? (args.rootdir === undefined ? saved?.cross : undefined);
  const cross = crossArch !== undefined ? validateCross(crossArch) : null;
  if (image) foreignImage(image.architecture, crossArch);
  const rootdir = image ? image.layers[0]! : args.nopriv !== undefined ? directory('--nopriv', args.nopriv) : args.rootdir !== undefined ? directory('--rootdir', args.rootdir) : saved?.rootdir ?? '/';
  if (saved && !image && args.rootdir !== undefined && rootdir !== saved.rootdir) {
    // a kept dir's storage is changes to its root: over another root they would mean something else
    throw new UsageError(`--tempdir '${args.tempdir}' was made with root directory '${saved.rootdir}', not '${rootdir}': leave out -r, or give a new -t dir`);
  }
  if (/[,:\\]/.test(rootdir)) throw new UsageError(`--rootdir '${rootdir}': overlayfs cannot take a path with ',', ':' or '\\'`);
  // --nopriv DIR: MINCS's rootless run writes to DIR itself
  const direct = args.direct || args.nopriv !== undefined || (args.tempdir !== undefined && !args.rootdir && saved?.direct === true);
  const roots = [...(tempdir && !direct ? [join(tempdir, 'storage')] : []), ...(image?.layers ?? [rootdir])];
  if (args.name !== undefined && !/^[A-Za-z0-9][A-Za-z0-9.-]{0,63}$/.test(args.name)) {
    throw new UsageError(`--name '${args.name}': a hostname is up to 64 letters, digits, '.' and '-'`);
  }
  let preserveFds = 0;
  if (args.preserveFds !== undefined) {
    if (!/^[0-4]$/.test(args.preserveFds)) throw new UsageError(`--preserve-fds '${args.preserveFds}': a number from 0 to 4`);
    preserveFds = Number(args.preserveFds);
    for (let fd = 3; fd < 3 + preserveFds; fd++) {
      if (!callerFd(fd)) throw new UsageError(`--preserve-fds ${preserveFds}: file descriptor ${fd} is not open`);
    }
  }
  const user = (args.user ?? image?.user) !== undefined ? parseUser((args.user ?? image?.user)!, roots) : undefined;
  const command = args.command.length > 0 ? args.command : image ? image.command ?? ['/bin/sh'] : [shellIn(roots, env.SHELL)];
  return {
    command,
    rootdir,
    direct,
    keep: args.keep || tempdir !== undefined || (image !== null && !args.rm),
    ...(args.rm ? { rm: true } : {}),
    tempdir,
    freshTempdir,
    name: args.name ?? image?.name ?? saved?.name,
    binds: [...x11Binds(args, env), ...args.bind.map(parseBind)], // -X's binds first (src/options/hostopts.ts)
    hide: (args.hide ?? []).map(parseHide),
    user,
    usedev: args.usedev,
    nocaps: args.nocaps !== undefined ? parseCaps(args.nocaps) : undefined,
    asPid1: args.asPid1,
    preserveFds,
    debug: args.debug,
    dryRun: args.dryRun,
    ...(image ? { image, layers: image.layers, env: image.env, workdir: image.workdir } : {}),
    ...validateExtra(args, env, roots, rootless),
    ...(cross ? { cross } : {}),
    ...(rootless ? { rootless: rootlessConfig(args, rootdir, image?.layers, user) } : {}),
  };
}
