/**
 * The validation pass (bubblewrap's style): everything the options name is
 * checked here, before anything is created, so bad input ends the run with one
 * clear line and leaves nothing behind.
 */
import { readFileSync, realpathSync, statSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { UsageError } from '../errors.js';
import { CAPABILITIES } from '../plan/paths.js';
import { readSettings, type Settings } from '../run/settings.js';
import type { MincArgs } from './parse.js';
import { callerFd } from '../run/fds.js';
import { imageRun, type ImageRun } from '../marten/minc.js';
import { validateExtra, x11Binds, type ExtraConfig } from './extra.js';

export interface Bind {
  readonly source: string;
  readonly target: string;
  readonly readonly: boolean;
}

export interface Config extends ExtraConfig {
  readonly command: readonly string[];
  readonly rootdir: string;
  readonly direct: boolean;
  readonly keep: boolean;
  /** an existing temporary directory to reuse (-t) */
  readonly tempdir?: string;
  readonly name?: string;
  readonly binds: readonly Bind[];
  readonly user?: { readonly uid: number; readonly gid: number; readonly groups?: readonly number[] };
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
}

function statOrNull(path: string) {
  try {
    return statSync(path);
  } catch {
    return null;
  }
}

function directory(what: string, path: string): string {
  const st = statOrNull(path);
  if (!st) throw new UsageError(`${what} '${path}': no such directory`);
  if (!st.isDirectory()) throw new UsageError(`${what} '${path}': not a directory`);
  return realpathSync(path);
}

export function parseBind(spec: string): Bind {
  let parts = spec.split(':');
  let ro = false;
  if (parts.length > 1 && (parts.at(-1) === 'ro' || parts.at(-1) === 'rw')) {
    ro = parts.at(-1) === 'ro';
    parts = parts.slice(0, -1);
  }
  if (parts.length > 2 || !parts[0]) throw new UsageError(`--bind '${spec}': expected HOSTPATH[:PATH][:ro]`);
  const [host, target] = parts as [string, string | undefined];
  if (!statOrNull(host)) throw new UsageError(`--bind '${spec}': bind source '${host}' does not exist`);
  const source = realpathSync(host);
  if (target !== undefined && !isAbsolute(target)) {
    throw new UsageError(`--bind '${spec}': bind target '${target}' must be an absolute path`);
  }
  const clean = (target ?? source).replace(/\/+/g, '/').replace(/(.)\/$/, '$1');
  if (clean === '/' || clean.split('/').includes('..')) {
    throw new UsageError(`--bind '${spec}': bind target '${target ?? source}' cannot be / or contain '..'`);
  }
  return { source, target: clean, readonly: ro };
}

/** passwd/group lookup in the container's root: the upper dir of a reused temp dir first. */
function lookup(file: string, key: string, roots: readonly string[]): string[] | null {
  for (const root of roots) {
    let text: string;
    try {
      text = readFileSync(join(root, file), 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n')) {
      const f = line.split(':');
      if (f[0] === key || f[2] === key) return f;
    }
    return null;
  }
  return null;
}

/** Supplementary groups of a user: the groups of /etc/group that list the name. */
function groupsOf(name: string | undefined, roots: readonly string[]): number[] {
  if (!name) return [];
  for (const root of roots) {
    let text: string;
    try {
      text = readFileSync(join(root, 'etc/group'), 'utf8');
    } catch {
      continue;
    }
    return text.split('\n').map((l) => l.split(':')).filter((f) => (f[3] ?? '').split(',').includes(name)).map((f) => Number(f[2]));
  }
  return [];
}

export function parseUser(spec: string, roots: readonly string[]): { uid: number; gid: number; groups: number[] } {
  const [u, g, extra] = spec.split(':');
  if (!u || extra !== undefined || g === '') throw new UsageError(`--user '${spec}': expected UID[:GID]`);
  const pw = lookup('etc/passwd', u, roots);
  let uid: number;
  if (/^\d+$/.test(u)) uid = Number(u);
  else if (pw) uid = Number(pw[2]);
  else throw new UsageError(`--user '${spec}': no user '${u}' in the container's /etc/passwd (use a number)`);
  let gid: number;
  if (g === undefined) gid = pw ? Number(pw[3]) : 0;
  else if (/^\d+$/.test(g)) gid = Number(g);
  else {
    const gr = lookup('etc/group', g, roots);
    if (!gr) throw new UsageError(`--user '${spec}': no group '${g}' in the container's /etc/group (use a number)`);
    gid = Number(gr[2]);
  }
  return { uid, gid, groups: groupsOf(pw?.[0], roots) };
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

export function validate(args: MincArgs, env: NodeJS.ProcessEnv = process.env): Config {
  if (!args.dryRun && process.getuid?.() !== 0) {
    throw new UsageError('must be run as root (try: sudo minc ...); --dry-run shows the plan without root');
  }
  const image = imageRun(args.rootdir, args.tempdir); // null unless -r/-t name an image/container, not a directory
  if (image && args.direct) throw new UsageError('--direct cannot be used with an image: its layers are read-only');
  let tempdir: string | undefined;
  let saved: Settings | null = null;
  if (args.tempdir !== undefined) {
    tempdir = image?.container ?? directory('--tempdir', args.tempdir);
    saved = readSettings(tempdir);
  }
  const rootdir = image ? image.layers[0]! : args.rootdir !== undefined ? directory('--rootdir', args.rootdir) : saved?.rootdir ?? '/';
  if (/[,:\\]/.test(rootdir)) throw new UsageError(`--rootdir '${rootdir}': overlayfs cannot take a path with ',', ':' or '\\'`);
  const direct = args.direct || (args.tempdir !== undefined && !args.rootdir && saved?.direct === true);
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
  const command = args.command.length > 0 ? args.command : image ? image.command ?? ['/bin/sh'] : [env.SHELL || '/bin/sh'];
  return {
    command,
    rootdir,
    direct,
    keep: args.keep || tempdir !== undefined || image !== null,
    tempdir,
    name: args.name ?? image?.name ?? saved?.name,
    binds: [...x11Binds(args, env), ...args.bind.map(parseBind)], // -X's binds first (src/options/extra.ts)
    user: (args.user ?? image?.user) !== undefined ? parseUser((args.user ?? image?.user)!, roots) : undefined,
    usedev: args.usedev,
    nocaps: args.nocaps !== undefined ? parseCaps(args.nocaps) : undefined,
    asPid1: args.asPid1,
    preserveFds,
    debug: args.debug,
    dryRun: args.dryRun,
    ...(image ? { image, layers: image.layers, env: image.env, workdir: image.workdir } : {}),
    ...validateExtra(args, env, roots),
  };
}
