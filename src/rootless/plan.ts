/**
 * The root of a rootless run (issue 11), before its PID namespace.
 *
 * The launcher enters a user namespace (the user is root there) and a mount
 * namespace only.  The root is mounted there:
 * - the host's `/`, or a root directory the user does not own: by
 *   fuse-overlayfs (the package podman uses rootless).  Kernel overlayfs
 *   cannot take `/` as a lower in a user namespace (the mounts under it are
 *   locked: "failed to clone lowerpath"), nor copy up a file of an id the
 *   namespace does not map (EOVERFLOW).  fuse-overlayfs reads the lower
 *   through its own path walk, so every host submount shows through it, and
 *   with squash_to_root every file shows as root's: `echo x >> /etc/motd`
 *   works, the write lands in storage/;
 * - a root directory or image layers the user owns: kernel overlayfs with
 *   `userxattr` (its whiteouts and opaque marks as a user may write them).
 * fuse-overlayfs runs in the foreground with a parent-death signal tied to
 * the process that then becomes unshare of the PID namespace: it goes when
 * the container goes, SIGKILL of minc included.  It stays in the host's PID
 * namespace, where the container cannot see it (through /proc/PID/root it
 * would reach the host's root).
 * Then `enter_pidns` re-runs the stage as PID 1 of new IPC, UTS and PID
 * namespaces, and the plan goes on from the step after it.
 */
import type { Config } from '../options/validate.js';
import type { Arg, PlanInput, Step } from '../plan/types.js';
import { mapOptions } from './ids.js';

const s = (why: string, ...argv: Arg[]): Step => ({ why, argv });

function need(facts: PlanInput['facts'], name: 'mount' | 'setpriv' | 'unshare' | 'sh' | 'env' | 'fuse-overlayfs' | 'mkfifo'): string {
  const p = facts.tools[name];
  if (!p) throw new Error(`${name} not found on this host (minc --doctor says what to install)`);
  return p;
}

/**
 * fuse-overlayfs's options: the lower dirs, the upper and work dir, everything
 * shown as root's, and `static_nlink`: without it every lookup of a directory
 * reads the whole directory from each layer to count its subdirectories for
 * st_nlink (a run's first `/usr/bin/...` reads 1,000+ entries).  Directories
 * then show one link, as on btrfs: find and du take 1 as "not counted".
 */
export function fuseOptions(config: Config, tempdir: string): string {
  const lower = config.layers ? config.layers.join(':') : config.rootdir;
  return `lowerdir=${lower},upperdir=${tempdir}/storage,workdir=${tempdir}/work,squash_to_root,static_nlink`;
}

export function rootlessRootSteps({ config, facts, tempdir }: PlanInput): Step[] {
  const rootless = config.rootless!;
  const root = `${tempdir}/root`;
  const steps: Step[] = [];
  const usermode = config.net?.usermode;
  if (usermode) {
    steps.push(s(`Tell minc this process's pid (TEMPDIR/netpid): it starts ${usermode.kind} against the new network and user namespaces while the root is mounted`,
      'net_ready', need(facts, 'mkfifo')));
  }
  if (config.direct) {
    // (recursive: in a user namespace a bind of a mount that has mounts below it must take them along)
    steps.push(s('Bind the root directory itself (--direct), with the mounts below it: writes reach it', need(facts, 'mount'), '--rbind', config.rootdir, root));
  } else if (rootless.fuse) {
    steps.push(s(`Mount the copy-on-write root with fuse-overlayfs (${config.rootdir === '/' && !config.layers ? "the host's / with every mount below it" : 'a root directory of other owners'}: kernel overlayfs cannot take it in a user namespace); writes land in storage/, every file shows as root's`,
      'fuse_root', need(facts, 'setpriv'), need(facts, 'fuse-overlayfs'), fuseOptions(config, tempdir), root));
  } else {
    const lower = config.layers ? config.layers.join(':') : config.rootdir;
    steps.push(s('Mount the copy-on-write root (kernel overlayfs, userxattr: its marks in user.overlay.* xattrs, as a user may write them)',
      need(facts, 'mount'), '-t', 'overlay', '-o', `lowerdir=${lower},upperdir=${tempdir}/storage,workdir=${tempdir}/work,userxattr${config.keep ? '' : ',volatile'}`, 'minc-overlay', root));
  }
  // (a root without a daemon behind it: the launcher entered every namespace at once)
  if (!twoPhase(config)) return steps;
  steps.push({
    ...s("Enter new mount, IPC, UTS and PID namespaces (owned by the user namespace; fuse-overlayfs stays outside them, keeping its root when pivot_root changes the container's; the new mounts are slaves of these, so its mount reaches them once made): the stage goes on as their PID 1",
      'enter_pidns', need(facts, 'unshare'), need(facts, 'sh'), ...(facts.ttyMode ? [need(facts, 'env')] : []), '--', { sh: '"$@"' }),
    userOutput: true,
  }, s('Wait for the fuse-overlayfs mount (it started beside the step above)', 'fuse_wait', root));
  return steps;
}

/**
 * A run whose root is fuse-overlayfs's enters its namespaces in two steps:
 * the daemon must live outside the container's PID and mount namespaces
 * (enter_pidns).  A kernel overlay or a bind has no daemon: one unshare does all.
 */
export const twoPhase = (config: Config): boolean => Boolean(config.rootless?.fuse && !config.direct);

/** The launcher of a rootless run: a user and a mount namespace, and with no fuse-overlayfs the rest too (else the stage enters them: enter_pidns). */
export function rootlessUnshareFlags(config: Config): string[] {
  const rootless = config.rootless!;
  const rest = twoPhase(config) ? [] : ['--ipc', '--uts', '--pid', '--fork', '--kill-child=KILL'];
  // (two phases: this namespace's mounts shared, so fuse-overlayfs's mount, made here, propagates to the container's
  // namespace, made as their slave before the mount is there: enter_pidns)
  const propagation = twoPhase(config) ? ['--propagation', 'shared'] : [];
  return [...mapOptions(rootless), '--mount', ...propagation, ...rest];
}

/** A rootless --net dens run: the command starts only once its network stack is up (minc says so on TEMPDIR/netgo). */
export function userNetWaitSteps({ config }: PlanInput): Step[] {
  const u = config.net?.usermode;
  return u ? [s(`Wait for ${u.kind}: minc writes ok to TEMPDIR/netgo once the container's network is up (else why not)`, 'net_wait')] : [];
}
