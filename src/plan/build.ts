/**
 * Pure functions from a validated Config and the host's Facts to the plan
 * the namespace side runs, one small function per concern (MINCS's stages:
 * minc-core for the namespace, minc-coat for the root, minc-leash for the
 * change of root and the command).
 */
import type { Config } from '../options/validate.js';
import type { Facts } from '../run/facts.js';
import { BELOW, DEVDIR, DEVICES, DEVLINKS, DEV_LINKS, MASKED, PROC_READONLY, PUT_OLD, type Tool } from './paths.js';
import { gatherTables } from './table.js';
import type { Arg, Plan, PlanFile, PlanInput, Step } from './types.js';
import { pidsMaxFile } from '../cgroup/plan.js';

export type { PlanInput } from './types.js';
import { extraNsSteps } from './nsoptions.js';
import { crossSteps } from './cross.js';
import { coversEtc, hideSteps, hostViewFiles, overlayExtra, runSteps, submountSteps } from './hostview.js';
import { rootlessRootSteps, userNetWaitSteps } from '../rootless/plan.js';

const s = (why: string, ...argv: Arg[]): Step => ({ why, argv });

/** A mount below the new root: a line of the mount table BELOW, mounted with the others by one mount(8) (plan/table.ts). */
const m = (why: string, ...argv: Arg[]): Step => ({ why, argv, table: BELOW });

/** The host's library directories as seen from the new root. */
const hostLibpath = (facts: Facts): string => facts.libpath.split(':').map((d) => PUT_OLD + d).join(':');

function tool(facts: Facts, name: Tool): string {
  const p = facts.tools[name];
  if (!p) throw new Error(`${name} not found on this host (minc --doctor says what to install)`);
  return p;
}

const rootOf = (tempdir: string): string => `${tempdir}/root`;

/**
 * The namespace itself and the container's root (MINCS's minc-core and
 * minc-coat).  (The mount namespace is private already: unshare --mount's
 * default propagation is private, so nothing mounted here reaches the host.)
 */
export function rootSteps(input: PlanInput): Step[] {
  const { config, facts, tempdir } = input;
  const root = rootOf(tempdir);
  const hostPid = s('Note the pid of this init as the host sees it (written to TEMPDIR/pid once the command starts)', 'host_pid');
  // rootless: the root is mounted before the PID namespace is entered (src/rootless/plan.ts)
  if (config.rootless) return [...rootlessRootSteps(input), hostPid];
  const steps: Step[] = [hostPid];
  if (config.direct) {
    steps.push(s('Bind the root directory itself (--direct): writes reach it', tool(facts, 'mount'), '--bind', config.rootdir, root));
  } else {
    steps.push(s('Mount the copy-on-write root: the root directory below, writes land in storage/',
      tool(facts, 'mount'), '-t', 'overlay', '-o', `lowerdir=${config.layers ? config.layers.join(':') : config.rootdir},upperdir=${tempdir}/storage,workdir=${tempdir}/work${overlayExtra(config)}`, 'minc-overlay', root));
  }
  return steps;
}

/** The hostname, and the fifos that order the command's start after the host root is gone. */
export function hostSteps({ config, facts, tempdir }: PlanInput): Step[] {
  const steps: Step[] = [];
  if (config.name) steps.push(s("Set the container's hostname", tool(facts, 'hostname'), config.name));
  if (dropsRoot(config)) {
    steps.push(s('The fifos that start the command only once the host root is detached (another process detaches it)',
      tool(facts, 'mkfifo'), '-m', '600', `${tempdir}/ready`, `${tempdir}/go`));
  }
  return steps;
}

/**
 * The command's process gives up root (--user) or capabilities (--nocaps)
 * before it is loaded: then it cannot detach the host root itself, and init
 * does it once the process signals it is loaded (the fifos).
 */
export const dropsRoot = (config: Config): boolean => Boolean(config.user || config.nocaps);

/** A fresh /proc with runc's read-only paths, and a read-only /sys. */
export function procSysSteps({ config, facts, tempdir }: PlanInput): Step[] {
  const root = rootOf(tempdir);
  const steps: Step[] = [
    s('/proc mount point (not a symlink of the root directory)', 'plain_dir', `${root}/proc`),
    m('A fresh procfs: only the processes of this PID namespace show', tool(facts, 'mount'), '-t', 'proc', '-o', 'nosuid,nodev,noexec', 'proc', `${root}/proc`),
  ];
  for (const p of PROC_READONLY) {
    if (facts.existing.has(p)) steps.push(m(`${p} is read-only: kernel settings stay the host's`, tool(facts, 'mount'), '--bind', '-o', 'ro', `${root}${p}`, `${root}${p}`));
  }
  steps.push(
    s('/sys mount point', 'plain_dir', `${root}/sys`),
    config.rootless && !config.net
      // sysfs is mounted only by a user namespace that owns its network namespace
      ? m("/sys is the host's, read-only (rootless, no network namespace of its own: sysfs cannot be mounted)", tool(facts, 'mount'), '--rbind', '-o', 'ro', '/sys', `${root}/sys`)
      : m('/sys is read-only (MINCS binds it writable)', tool(facts, 'mount'), '-t', 'sysfs', '-o', 'ro,nosuid,nodev,noexec', 'sysfs', `${root}/sys`),
  );
  return steps;
}

/**
 * runc's masked paths: files get /dev/null (the host's, as runc binds the
 * /dev/null it gives the container: so the masks need only /proc and /sys),
 * directories an empty read-only tmpfs.
 */
export function maskSteps({ facts, tempdir }: PlanInput): Step[] {
  const root = rootOf(tempdir);
  return MASKED.flatMap((p) => {
    const kind = facts.existing.get(p);
    if (kind === 'file') return [m(`Mask ${p} (runc's masked paths)`, tool(facts, 'mount'), '--bind', '/dev/null', `${root}${p}`)];
    if (kind === 'dir') return [m(`Mask ${p} (runc's masked paths)`, tool(facts, 'mount'), '-t', 'tmpfs', '-o', 'ro,nosuid,nodev,noexec', 'tmpfs', `${root}${p}`)];
    return [];
  });
}

/** /dev: the container's own tmpfs with its own nodes and devpts (or the host's devtmpfs with --usedev). */
export function devSteps({ config, facts, tempdir }: PlanInput): Step[] {
  const root = rootOf(tempdir);
  const dev = `${root}/dev`;
  const mount = tool(facts, 'mount');
  const steps: Step[] = [s('/dev mount point', 'plain_dir', dev)];
  if (config.rootless) {
    // a user namespace may not mknod: the host's nodes are bound on empty files, as bubblewrap does.  The runner
    // makes TEMPDIR/dev with those files and the links (rootlessDevFiles), so all of /dev is lines of the one table
    steps.push(m("A private /dev: the temp dir's dev/ (its empty node files and links made by minc), bound", mount, '--bind', `${tempdir}/${DEVDIR}`, dev));
    for (const [n] of DEVICES) steps.push(m(`The host's /dev/${n} on /dev/${n} (no mknod in a user namespace)`, mount, '--bind', `/dev/${n}`, `${dev}/${n}`));
  } else if (config.usedev) {
    steps.push(m("Mount the host's devtmpfs on /dev (--usedev): its nodes are the host's", mount, '-t', 'devtmpfs', 'devtmpfs', dev));
  } else {
    steps.push(m('A private /dev: a chmod or rm in it cannot touch the host', mount, '-t', 'tmpfs', '-o', 'mode=755,nosuid,size=65536k', 'tmpfs', dev));
    // the links every /dev has are made by the runner in TEMPDIR/devlinks (devLinkFiles) and copied in with the nodes
    const links = DEV_LINKS.map(([, link]) => `${tempdir}/${DEVLINKS}/${link.split('/').at(-1)}`);
    const named = DEV_LINKS.map(([t, l]) => `${l} -> ${t}`).join(', ');
    if (facts.hostDevNodes) {
      // one exec for all six and the links: cp -a makes each node anew with mknod(2), as the host's (checked: facts.ts)
      steps.push(s(`The container's own ${DEVICES.map(([n]) => n).join(' ')} (new nodes: cp -a makes them with mknod(2), as docker does with mknod), and ${named}`,
        tool(facts, 'cp'), '-a', ...DEVICES.map(([n]) => `/dev/${n}`), ...links, `${dev}/`));
    } else {
      for (const [name, major, minor] of DEVICES) {
        steps.push(s(`The container's own /dev/${name} (made with mknod, as docker does)`, tool(facts, 'mknod'), '-m', '666', `${dev}/${name}`, 'c', String(major), String(minor)));
      }
      steps.push(s(named, tool(facts, 'cp'), '-a', ...links, `${dev}/`));
    }
  }
  // (X-mount.mkdir: mount(8) makes the mount point in the new /dev tmpfs)
  steps.push(m('A new devpts instance: the container sees only its own ptys',
    // (gid 5, tty, exists in a user namespace only where subordinate ids map it)
    mount, '-t', 'devpts', '-o', `newinstance,ptmxmode=0666,mode=0620,${config.rootless && !config.rootless.mapAuto ? '' : 'gid=5,'}nosuid,noexec,X-mount.mkdir`, 'devpts', `${dev}/pts`));
  if (config.usedev && !config.rootless) {
    steps.push(m('/dev/ptmx opens this devpts instance', mount, '--bind', `${dev}/pts/ptmx`, `${dev}/ptmx`));
  } else {
    steps.push(
      m('/dev/shm for POSIX shared memory', mount, '-t', 'tmpfs', '-o', 'mode=1777,nosuid,nodev,noexec,X-mount.mkdir', 'shm', `${dev}/shm`),
      m('/dev/mqueue of the new IPC namespace', mount, '-t', 'mqueue', '-o', 'nosuid,nodev,noexec,X-mount.mkdir', 'mqueue', `${dev}/mqueue`),
    );
  }
  if (facts.tty) {
    steps.push(
      s('/dev/console mount point', tool(facts, 'touch'), `${dev}/console`),
      s('The controlling terminal is the console', mount, '--bind', facts.tty, `${dev}/console`),
    );
  }
  return steps;
}

/** The links every /dev has, made in the temp dir for devSteps' cp (no ln exec each). */
export function devLinkFiles({ config }: PlanInput): Record<string, PlanFile> {
  if (config.usedev) return {};
  // rootless: the container's /dev itself, its links and the empty files the host's nodes are bound on
  const dir = config.rootless ? DEVDIR : DEVLINKS;
  const links: [string, PlanFile][] = DEV_LINKS.map(([target, link]) => [`${dir}/${link.split('/').at(-1)}`, { symlink: target }]);
  const nodes: [string, PlanFile][] = config.rootless ? DEVICES.map(([n]) => [`${dir}/${n}`, '']) : [];
  return Object.fromEntries([...links, ...nodes]);
}

/**
 * /etc: name resolution from the temp dir, /etc/mtab from /proc/mounts.  The
 * two binds are lines of the one mount table below the root (after etc_file
 * has made each target the container's own plain file), but with --direct
 * (a bind only onto a file that is there) and where a host mount shown at
 * /etc, /etc/resolv.conf or /etc/hosts would cover them: then etc_bind, after
 * the table.
 */
export function etcSteps(input: PlanInput): { before: Step[]; table: Step[]; after: Step[] } {
  const { config, facts, tempdir } = input;
  const root = rootOf(tempdir);
  const dir = s('/etc (not a symlink of the root directory)', 'plain_dir', `${root}/etc`);
  const mtab = s('/etc/mtab is /proc/mounts: the mounts here are private', 'mtab_link', root);
  const files = [['resolv.conf', "the host's resolvers"], ['hosts', 'naming the container']] as const;
  if (config.direct || coversEtc(input)) {
    return { before: [dir], table: [], after: [...files.map(([f, what]) => s(`Bind ${f} of the temp dir (${what}) on /etc/${f}`, 'etc_bind', root, f)), mtab] };
  }
  return {
    before: [dir, ...files.map(([f]) => s(`/etc/${f}: the container's own plain file (a symlink there is replaced), for the bind below`, 'etc_file', root, f))],
    table: files.map(([f, what]) => m(`Bind ${f} of the temp dir (${what}) on /etc/${f}`, tool(facts, 'mount'), '--bind', '--', `${tempdir}/${f}`, `${root}/etc/${f}`)),
    after: [mtab],
  };
}

/** /tmp: a tmpfs. */
export function tmpSteps({ facts, tempdir }: PlanInput): Step[] {
  const root = rootOf(tempdir);
  return [
    s('/tmp mount point', 'plain_dir', `${root}/tmp`),
    m('The container /tmp is a tmpfs', tool(facts, 'mount'), '-t', 'tmpfs', '-o', 'mode=1777,nosuid,nodev', 'tmpfs', `${root}/tmp`),
  ];
}

/**
 * User binds, last, before pivot_root.  A target is resolved inside the
 * container root, a symlink on the way followed there and never out of it
 * (the stage's in_root), and made where missing.
 */
export function bindSteps({ config, tempdir }: PlanInput): Step[] {
  return config.binds.map((b) => s(`Bind ${b.source} at ${b.target}${b.readonly ? ' read-only' : ''} (the target resolved inside the root)`,
    'bind', rootOf(tempdir), b.source, b.target, ...(b.readonly ? ['ro'] : [])));
}

/** Change root with pivot_root; the host root goes on PUT_OLD until it is detached. */
export function pivotSteps({ tempdir }: PlanInput): Step[] {
  return [s('Change root with pivot_root: the host root moves onto /tmp until it is detached', 'pivot', rootOf(tempdir), PUT_OLD)];
}

/**
 * The command's process: host tools through the loader reset INT/QUIT (an
 * asynchronous list starts with them ignored), drop capabilities (capsh, which
 * also switches user then: the drop must not take the switch's own
 * capabilities away first) or switch user (chroot --userspec); the host's sh
 * then waits for the host root to be detached and execs the command.
 */
export function commandChain({ config, facts }: PlanInput): Arg[] {
  const viaLoader = (name: Tool, ...args: Arg[]): Arg[] => [
    `${PUT_OLD}${facts.ldso}`, '--library-path', hostLibpath(facts), `${PUT_OLD}${tool(facts, name)}`, ...args];
  // the working directory is entered by $MINC_FINAL, once no path leads to the host root
  let chain: Arg[] = viaLoader('sh', '-c', { sh: '"$MINC_FINAL"' }, 'minc', config.workdir ?? '/', { sh: '"$@"' });
  const vars = imageVars(config);
  // INT/QUIT: an asynchronous list (the fifo start) starts with them ignored; the command gets them back
  const envArgs = ['--default-signal=INT,QUIT', ...vars];
  const user = config.user;
  const groups = user ? [user.gid, ...(user.groups ?? []).filter((g) => g !== user.gid)].join(',') : '';
  if (config.nocaps) {
    const ids = user ? [`--gid=${user.gid}`, `--groups=${groups}`, `--uid=${user.uid}`] : [];
    chain = viaLoader('capsh', `--drop=${config.nocaps.join(',')}`, ...ids, `--shell=${PUT_OLD}${facts.ldso}`, '--', ...chain.slice(1));
  } else if (user) {
    chain = viaLoader('chroot', `--userspec=${user.uid}:${user.gid}`, `--groups=${groups}`, '/', ...chain);
  }
  return viaLoader('env', ...envArgs, ...chain);
}

/** --user's HOME, USER, LOGNAME (from the container's passwd), then an image's Env entries that are NAME=VALUE. */
const imageVars = (config: Config): string[] => [...(config.user?.env ?? []), ...(config.env ?? []).filter((e) => /^[^=-][^=]*=/.test(e))];

export function launchSteps(input: PlanInput): Step[] {
  const { config } = input;
  const aspid1 = config.asPid1 ? '1' : '0';
  if (dropsRoot(config)) {
    return [{ ...s('Start the command, detach the host root once it is loaded, stay as its init', 'launch', aspid1, ...commandChain(input)), userOutput: true }];
  }
  // nothing to load from the host for the command: init detaches the host root, then starts it
  // (an image's WorkingDir and Env are set with shell builtins)
  return [{ ...s('Start the command once the host root is detached, stay as its init',
    'launch_direct', aspid1, config.workdir ?? '/', ...imageVars(config), '--', { sh: '"$@"' }), userOutput: true }];
}

export function buildPlan(input: PlanInput): Plan {
  const { config, facts, tempdir } = input;
  const vars: Record<string, string> = {
    MINC_DEBUG: config.debug ? '1' : '0',
    MINC_DBG_ON: input.colour?.on ?? '',
    MINC_DBG_OFF: input.colour?.off ?? '',
    MINC_ORIG: PUT_OLD,
    MINC_LDSO: facts.ldso,
    MINC_LIBPATH: hostLibpath(facts),
    MINC_TEMPDIR: tempdir,
    MINC_ROOT: rootOf(tempdir),
    MINC_DIRECT: config.direct ? '1' : '0',
    MINC_TTYMODE: facts.ttyMode ? '1' : '0',
    MINC_PRESERVE_FDS: String(config.preserveFds),
  };
  // --pid-max: the stage lowers pids.max to the command's limit when it starts it (src/cgroup/plan.ts)
  const pids = config.cgroup ? pidsMaxFile(config.cgroup, tempdir) : undefined;
  vars.MINC_PIDS_FILE = pids ?? '';
  vars.MINC_PIDS_MAX = String(config.cgroup?.limits.pidMax ?? 0);
  // the host tools the stage's own functions run
  for (const name of ['mount', 'umount', 'mkdir', 'rm', 'ln', 'readlink', 'pivot_root'] as const) vars[`MINC_${name.toUpperCase()}`] = tool(facts, name);
  // what goes below the root: its mount points checked first, then the mounts as one table (the host's
  // other mounts, /proc /sys /dev /tmp /run, the /etc binds), then what needs them (nodes, links)
  const below = [...procSysSteps(input), ...maskSteps(input), ...devSteps(input), ...tmpSteps(input), ...runSteps(input)];
  const etc = etcSteps(input);
  const host = hostSteps(input);
  // the hostname and the fifos (execs) in a lane beside the mounts: nothing below needs them; /etc/mtab
  // too where the /etc binds are in the table (else the etc_binds wait for the host mounts of the table)
  const inLane = etc.table.length > 0 ? etc.after : [];
  const lane = host.length > 0 ? [...host, ...inLane].map((st) => ({ ...st, lane: 'etc' })) : [];
  const afterTable = lane.length > 0 ? etc.after.filter((st) => !inLane.includes(st)) : etc.after;
  const { steps, files } = gatherTables([
    ...rootSteps(input), ...etc.before, ...lane,
    ...below.filter((st) => st.argv[0] === 'plain_dir'),
    ...submountSteps(input), ...below.filter((st) => st.table), ...etc.table,
    ...below.filter((st) => st.argv[0] !== 'plain_dir' && !st.table),
    ...afterTable, ...(lane.length > 0 ? [s('Wait for the hostname, the fifos and /etc/mtab', 'join_lane', 'etc')] : []),
    ...extraNsSteps(input), ...hideSteps(input), ...bindSteps(input),
    ...crossSteps(input), // --cross: init enters a user namespace of its own with its own binfmt_misc (plan/cross.ts)
    ...userNetWaitSteps(input), // rootless --net dens: its stack came up meanwhile (src/net/userstack.ts)
    ...pivotSteps(input), ...launchSteps(input),
  ], tempdir);
  return { vars, files: { ...hostViewFiles(input), ...devLinkFiles(input), ...files }, steps };
}
