/**
 * The temporary directory of a run: minc<pid>-XXXXXX under $XDG_RUNTIME_DIR
 * (else /run), holding root/ (mount point), storage/ (overlay upper), work/,
 * resolv.conf, hosts, utsname, pid and settings.
 */
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, realpathSync, rmSync, statfsSync } from 'node:fs';
import { writeNoFollow } from '../fs/nofollow.js';
import { basename, join } from 'node:path';
import { forkContainer, holdImage, type ImageRun } from '../marten/minc.js';
import { shortId } from '../marten/model.js';
import { MincError } from '../errors.js';
import type { Config } from '../options/validate.js';
import { RUN_FILES, TEMP_PREFIX } from '../plan/paths.js';
import type { CleanupStack } from './cleanup.js';
import type { Facts } from './facts.js';
import { debug, info, writeFd } from './log.js';
import { removeTreeAsUser } from './rmtree.js';
import { processStart, readSettings, writeSettings } from './settings.js';
import { shownMounts } from '../plan/hostview.js';

/** statfs(2) f_type of overlayfs, and of tmpfs. */
const OVERLAYFS_MAGIC = 0x794c7630;
const TMPFS_MAGIC = 0x01021994;

/**
 * Where temp dirs go: $XDG_RUNTIME_DIR, else /run, where that is a tmpfs (as
 * /run is on most hosts).  Else /dev/shm, a tmpfs: where /run is on a disk
 * a run's few directories cost a synchronous discard each on removal (tens of
 * ms on ext4 with `discard`), and where it is on overlayfs (the host's own /
 * is an overlay, as in a docker or podman container) it cannot hold an upper
 * dir at all.  An $XDG_RUNTIME_DIR on a disk is the user's choice and kept.
 */
export function tempBase(env: NodeJS.ProcessEnv = process.env, fsType: (p: string) => number | null = statfsType, uid = process.getuid?.() ?? 0): string {
  // a user's runs: $XDG_RUNTIME_DIR (theirs, 0700), else /tmp (the dirs are made 0700)
  if (uid !== 0) return env.XDG_RUNTIME_DIR || '/tmp';
  const base = env.XDG_RUNTIME_DIR || '/run';
  const type = fsType(base);
  if (type === TMPFS_MAGIC) return base;
  const onShm = (type === OVERLAYFS_MAGIC || !env.XDG_RUNTIME_DIR) && fsType('/dev/shm') === TMPFS_MAGIC;
  return onShm ? '/dev/shm' : base;
}

function statfsType(path: string): number | null {
  try {
    return statfsSync(path).type;
  } catch {
    return null;
  }
}

/** Mount points at or below dir in this mount namespace (there should be none on the host side). */
export function mountsBelow(dir: string): string[] {
  const out: string[] = [];
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const mp = line.split(' ')[4]?.replace(/\\(\d{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
    if (mp && (mp === dir || mp.startsWith(`${dir}/`))) out.push(mp);
  }
  return out;
}

/**
 * rm -rf, refusing while anything below is mounted (that would reach through
 * to what is mounted), or while its undo file says host-side setup (network,
 * cgroups) is not all undone: that record is what minc --gc retries from.
 */
export function removeTempdir(dir: string): void {
  const mounts = mountsBelow(dir);
  if (mounts.length > 0) throw new MincError(`not removing ${dir}: ${mounts[0]} is still mounted (unmount it, then run minc --gc)`);
  if (existsSync(join(dir, 'undo'))) throw new MincError(`not removing ${dir}: its network or cgroup setup is not all undone (run minc --gc to try again)`);
  removeTreeAsUser(dir);
}

/** The host's resolvers (MINCS hard-codes 8.8.8.8). */
function resolvConf(): string {
  try {
    return readFileSync('/etc/resolv.conf', 'utf8');
  } catch {
    return '';
  }
}

function hostsFile(name: string): string {
  return `127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t${name}\n`;
}

/** Create a new temp dir, or take over the one -t names; pushes its removal unless kept. */
export function prepareTempdir(config: Config, facts: Facts, cleanup: CleanupStack): string {
  let dir: string;
  let held: ImageRun | undefined;
  if (config.tempdir) {
    dir = config.tempdir;
    if (config.freshTempdir) {
      // a new path, or an empty dir of this user's (src/run/reuse.ts): minc's own from now on
      // (not mkdir -p: a link planted at the path meanwhile makes this fail, not lead elsewhere)
      if (!existsSync(dir)) mkdirSync(dir, { mode: 0o700 });
      const st = lstatSync(dir);
      if (!st.isDirectory() || st.uid !== process.getuid?.()) throw new MincError(`--tempdir ${dir} changed while minc checked it`);
      chmodSync(dir, 0o700);
      debug('Make the temporary directory (-t)', dir);
    } else debug('Reuse the temporary directory (-t)', dir);
  } else if (config.image && !config.rm) {
    dir = forkContainer(config.image, config.name); // a new container of the image in the store (src/marten/minc.ts)
    // its short id, by write(2): process.stderr would cost ~4 ms (a pipe's is a net.Socket, net and streams loaded)
    writeFd(2, `${shortId(basename(dir))}\n`);
    if (config.rm) cleanup.push(`Remove the container ${dir} (--rm)`, () => removeTempdir(dir));
  } else {
    const base = tempBase();
    mkdirSync(base, { recursive: true });
    // mkdtemp(3) makes minc<pid>-XXXXXX (mode 0700) itself: what tmp-promise's
    // dir() wraps, without the ~8 ms its import costs every run
    // (below the base's real path: the mount table's targets are given to mount(8) as they are, not canonicalized)
    dir = mkdtempSync(join(realpathSync(base), `${TEMP_PREFIX}${process.pid}-`));
    debug('Make the temporary directory', dir);
    // --rm -r IMAGE: a container thrown away at the end lives here too, on the tmpfs, not in the store
    // (on a disk its few directories and files, made and removed, cost more than all the rest of the
    // difference to a -r DIR run); its settings hold the image against marten rmi (holdImage below)
    if (config.image) {
      held = config.image;
      writeFd(2, `${basename(dir)}\n`);
    }
    if (!config.keep) {
      cleanup.push(`Remove the temporary directory ${dir}`, () => removeTempdir(dir));
    }
  }
  if (config.keep) {
    // (the line ends with the directory: MINCS's keep test reads it so)
    const cmd = config.image ? ['minc', '-t', basename(dir).slice(0, 12)] : ['minc', ...(config.cross ? ['--cross', config.cross.arch] : []), ...(config.rootdir !== '/' ? ['-r', config.rootdir] : []), '-t', dir];
    cleanup.push('Say how to reuse the kept directory', () => info(`to reuse this, run: ${cmd.join(' ')}`));
  }
  for (const d of ['root', 'storage', 'work']) mkdirSync(join(dir, d), { recursive: true });
  // an upper and a work dir for each host mount shown overlaid (plan/hostview.ts)
  for (const m of shownMounts({ config, facts, tempdir: dir })) {
    if (m.how === 'overlay' && !config.direct) for (const d of ['upper', 'work']) mkdirSync(join(dir, 'mounts', m.name, d), { recursive: true });
  }
  // the start fifos and step output of an earlier run of a reused dir (made again by the stage), and gone when a kept dir is left
  const runFiles = (): void => RUN_FILES.forEach((f) => rmSync(join(dir, f), { force: true, recursive: true }));
  if (config.tempdir) runFiles();
  if (config.keep) cleanup.push("Remove the start fifos and the steps' stderr from the kept directory", runFiles);
  const name = config.name ?? facts.hostname;
  // (a kept dir's files are written only where they are not symlinks: src/fs/nofollow.ts)
  writeNoFollow(join(dir, 'resolv.conf'), resolvConf());
  writeNoFollow(join(dir, 'hosts'), hostsFile(name));
  if (config.name) writeNoFollow(join(dir, 'utsname'), `${config.name}\n`);
  const started = (config.tempdir && !config.freshTempdir ? readSettings(dir)?.started : undefined) ?? Date.now();
  const settings = {
    started,
    ...(config.hide?.length ? { hide: [...config.hide] } : {}),
    ...(config.cross ? { cross: config.cross.arch } : {}),
    rootdir: config.rootdir,
    direct: config.direct,
    name: config.name,
    keep: config.keep,
    mincPid: process.pid,
    mincStart: processStart(process.pid) ?? 0,
  };
  if (held) holdImage(held, (store) => writeSettings(dir, { ...settings, image: held.id, store }));
  else writeSettings(dir, settings);
  debug('Write resolv.conf, hosts, utsname and settings into the temporary directory');
  return dir;
}

/** Temp dirs under base that look like minc's. */
export function listTempdirs(base = tempBase()): string[] {
  let names: string[];
  try {
    names = readdirSync(base);
  } catch {
    return [];
  }
  // only this user's own dirs, writable by no one else: --gc runs a dir's undo file, and a base such as
  // /dev/shm is open to everyone (a planted minc1-abcdef/undo must never run as root)
  const uid = process.getuid?.() ?? 0;
  return names.filter((n) => new RegExp(`^${TEMP_PREFIX}\\d+-\\w{6}$`).test(n)).map((n) => join(base, n)).filter((d) => {
    const st = lstatSync(d, { throwIfNoEntry: false });
    return st !== undefined && st.isDirectory() && st.uid === uid && (st.mode & 0o022) === 0;
  });
}
