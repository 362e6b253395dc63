/**
 * Pure functions from a validated Config and the host's Facts to the plan
 * the namespace side runs, one small function per concern (MINCS's stages:
 * minc-core for the namespace, minc-coat for the root, minc-leash for the
 * change of root and the command).
 */
import type { Config } from '../options/validate.js';
import type { Facts } from '../run/facts.js';
import { DEVICES, DEV_LINKS, MASKED, PROC_READONLY, PUT_OLD, type Tool } from './paths.js';
import type { Arg, Plan, Step } from './types.js';

export interface PlanInput {
  readonly config: Config;
  readonly facts: Facts;
  /** the temporary directory (root/ storage/ work/ resolv.conf hosts ...) */
  readonly tempdir: string;
  /** escape sequences around debug lines (chalk's, on a terminal) */
  readonly colour?: { readonly on: string; readonly off: string };
}

const s = (why: string, ...argv: Arg[]): Step => ({ why, argv });

/** The host's library directories as seen from the new root. */
const hostLibpath = (facts: Facts): string => facts.libpath.split(':').map((d) => PUT_OLD + d).join(':');

function tool(facts: Facts, name: Tool): string {
  const p = facts.tools[name];
  if (!p) throw new Error(`${name} not found on this host (minc --doctor says what to install)`);
  return p;
}

/** A host tool run after pivot_root: through the host's loader, from under PUT_OLD. */
const host = (facts: Facts, name: Tool, ...args: Arg[]): Arg[] => ['hostrun', tool(facts, name), ...args];

/** Before pivot_root: the namespace itself, the root and the put_old directory. */
export function rootSteps({ config, facts, tempdir }: PlanInput): Step[] {
  const root = `${tempdir}/root`;
  const steps: Step[] = [s('Record the pid of this init as the host sees it (for minc --gc)', 'host_pid')];
  if (config.name) steps.push(s("Set the container's hostname", tool(facts, 'hostname'), config.name));
  steps.push(s('Make the mount namespace private: nothing mounted here propagates to the host', tool(facts, 'mount'), '--make-rprivate', '/'));
  if (config.direct) {
    steps.push(s('Bind the root directory itself (--direct): writes reach it', tool(facts, 'mount'), '--bind', config.rootdir, root));
  } else {
    steps.push(s('Mount the copy-on-write root: the root directory below, writes land in storage/',
      tool(facts, 'mount'), '-t', 'overlay', '-o', `lowerdir=${config.layers ? config.layers.join(':') : config.rootdir},upperdir=${tempdir}/storage,workdir=${tempdir}/work`, 'minc-overlay', root));
  }
  steps.push(
    s('/tmp is a tmpfs of the container; it also holds the put_old directory for pivot_root', 'plain_dir', `${root}/tmp`),
    s('Mount the container /tmp', tool(facts, 'mount'), '-t', 'tmpfs', '-o', 'mode=1777,nosuid,nodev', 'tmpfs', `${root}/tmp`),
    s('Make the directory pivot_root moves the host root to', tool(facts, 'mkdir'), `${root}${PUT_OLD}`),
    s('Enter the new root', 'cd', root),
    s('Change root with pivot_root: the host root moves below the new one until it is detached', tool(facts, 'pivot_root'), '.', PUT_OLD.slice(1)),
  );
  return steps;
}

/** After pivot_root: a fresh /proc with runc's read-only and masked paths, and a read-only /sys. */
export function procSysSteps({ facts }: PlanInput): Step[] {
  const steps: Step[] = [
    s('/proc mount point', 'ensure_dir', '/proc'),
    s('A fresh procfs: only the processes of this PID namespace show', ...host(facts, 'mount', '-t', 'proc', '-o', 'nosuid,nodev,noexec', 'proc', '/proc')),
  ];
  for (const p of PROC_READONLY) {
    if (facts.existing.has(p)) steps.push(s(`${p} is read-only: kernel settings stay the host's`, ...host(facts, 'mount', '--bind', '-o', 'ro', p, p)));
  }
  steps.push(
    s('/sys mount point', 'ensure_dir', '/sys'),
    s('/sys is read-only (MINCS binds it writable)', ...host(facts, 'mount', '-t', 'sysfs', '-o', 'ro,nosuid,nodev,noexec', 'sysfs', '/sys')),
  );
  return steps;
}

/** runc's masked paths: files get the container's /dev/null, directories an empty read-only tmpfs. */
export function maskSteps({ facts }: PlanInput): Step[] {
  return MASKED.flatMap((p) => {
    const kind = facts.existing.get(p);
    if (kind === 'file') return [s(`Mask ${p} (runc's masked paths)`, ...host(facts, 'mount', '--bind', '/dev/null', p))];
    if (kind === 'dir') return [s(`Mask ${p} (runc's masked paths)`, ...host(facts, 'mount', '-t', 'tmpfs', '-o', 'ro,nosuid,nodev,noexec', 'tmpfs', p))];
    return [];
  });
}

/** /dev: the container's own tmpfs with its own nodes and devpts (or the host's devtmpfs with --usedev). */
export function devSteps({ config, facts }: PlanInput): Step[] {
  const steps: Step[] = [s('/dev mount point', 'ensure_dir', '/dev')];
  if (config.usedev) {
    steps.push(
      s("Mount the host's devtmpfs on /dev (--usedev): its nodes are the host's", ...host(facts, 'mount', '-t', 'devtmpfs', 'devtmpfs', '/dev')),
      s('/dev/pts mount point', 'ensure_dir', '/dev/pts'),
    );
  } else {
    steps.push(
      s('A private /dev: a chmod or rm in it cannot touch the host', ...host(facts, 'mount', '-t', 'tmpfs', '-o', 'mode=755,nosuid,size=65536k', 'tmpfs', '/dev')),
      s('Directories for devpts, POSIX shared memory and message queues', ...host(facts, 'mkdir', '/dev/pts', '/dev/shm', '/dev/mqueue')),
    );
    for (const [name, major, minor] of DEVICES) {
      steps.push(s(`The container's own /dev/${name} (made with mknod, as docker does)`, ...host(facts, 'mknod', '-m', '666', `/dev/${name}`, 'c', String(major), String(minor))));
    }
  }
  steps.push(s('A new devpts instance: the container sees only its own ptys',
    ...host(facts, 'mount', '-t', 'devpts', '-o', 'newinstance,ptmxmode=0666,mode=0620,gid=5,nosuid,noexec', 'devpts', '/dev/pts')));
  if (config.usedev) {
    steps.push(s('/dev/ptmx opens this devpts instance', ...host(facts, 'mount', '--bind', '/dev/pts/ptmx', '/dev/ptmx')));
  } else {
    for (const [target, link] of DEV_LINKS) steps.push(s(`${link} -> ${target}`, ...host(facts, 'ln', '-s', target, link)));
    steps.push(
      s('/dev/shm for POSIX shared memory', ...host(facts, 'mount', '-t', 'tmpfs', '-o', 'mode=1777,nosuid,nodev,noexec', 'shm', '/dev/shm')),
      s('/dev/mqueue of the new IPC namespace', ...host(facts, 'mount', '-t', 'mqueue', '-o', 'nosuid,nodev,noexec', 'mqueue', '/dev/mqueue')),
    );
  }
  if (facts.tty) {
    steps.push(
      s('/dev/console mount point', 'ensure_file', '/dev/console'),
      s('The controlling terminal is the console', ...host(facts, 'mount', '--bind', `${PUT_OLD}${facts.tty}`, '/dev/console')),
    );
  }
  return steps;
}

/** /etc: name resolution from the temp dir, /etc/mtab from /proc/mounts. */
export function etcSteps({ facts, tempdir }: PlanInput): Step[] {
  const steps: Step[] = [];
  for (const f of ['resolv.conf', 'hosts']) {
    steps.push(
      s(`/etc/${f} is the container's own file (a symlink there is replaced)`, 'own_file', `/etc/${f}`),
      s(`Bind ${f} of the temp dir on /etc/${f}`, ...host(facts, 'mount', '--bind', `${PUT_OLD}${tempdir}/${f}`, `/etc/${f}`)),
    );
  }
  steps.push(s('/etc/mtab is /proc/mounts: the mounts here are private', 'mtab_link'));
  return steps;
}

/** User binds, last; targets resolve inside the container root, sources in the host's. */
export function bindSteps({ config, facts }: PlanInput): Step[] {
  return config.binds.flatMap((b) => [
    s(`Mount point for ${b.target}`, 'bind_point', `${PUT_OLD}${b.source}`, b.target),
    s(`Bind ${b.source} at ${b.target}${b.readonly ? ' read-only' : ''}`,
      ...host(facts, 'mount', '--bind', ...(b.readonly ? ['-o', 'ro'] : []), `${PUT_OLD}${b.source}`, b.target)),
  ]);
}

/**
 * The command's process: host tools through the loader reset INT/QUIT (an
 * asynchronous list starts with them ignored), drop capabilities (capsh),
 * switch user (chroot --userspec); the host's sh then waits for the host root
 * to be detached and execs the command.
 */
export function commandChain({ config, facts }: PlanInput): Arg[] {
  const viaLoader = (name: Tool, ...args: Arg[]): Arg[] => [
    `${PUT_OLD}${facts.ldso}`, '--library-path', hostLibpath(facts), `${PUT_OLD}${tool(facts, name)}`, ...args];
  let chain: Arg[] = viaLoader('sh', '-c', { sh: '"$FINAL"' }, 'minc', { sh: '"$@"' });
  const vars = (config.env ?? []).filter((e) => /^[^=-][^=]*=/.test(e));
  if (vars.length > 0 || config.workdir) chain = viaLoader('env', ...(config.workdir ? ['-C', config.workdir] : []), ...vars, ...chain);
  if (config.user) chain = viaLoader('chroot', `--userspec=${config.user.uid}:${config.user.gid}`, '/', ...chain);
  if (config.nocaps) {
    chain = viaLoader('capsh', `--drop=${config.nocaps.join(',')}`, `--shell=${PUT_OLD}${facts.ldso}`, '--', ...chain.slice(1));
  }
  return viaLoader('env', '--default-signal=INT,QUIT', ...chain);
}

export function launchSteps(input: PlanInput): Step[] {
  return [s('Start the command, detach the host root, stay as its init', 'launch', input.config.asPid1 ? '1' : '0', ...commandChain(input))];
}

export function buildPlan(input: PlanInput): Plan {
  const { config, facts, tempdir } = input;
  const vars: Record<string, string> = {
    DEBUG: config.debug ? '1' : '0',
    DBG_ON: input.colour?.on ?? '',
    DBG_OFF: input.colour?.off ?? '',
    ORIG: PUT_OLD,
    LDSO: facts.ldso,
    LIBPATH: hostLibpath(facts),
    TEMPDIR: tempdir,
    DIRECT: config.direct ? '1' : '0',
    TTYMODE: facts.ttyMode ? '1' : '0',
    PRESERVE_FDS: String(config.preserveFds),
  };
  for (const [name, path] of Object.entries(facts.tools)) vars[name.toUpperCase().replace('_', '')] = path;
  return {
    vars,
    steps: [...rootSteps(input), ...procSysSteps(input), ...devSteps(input), ...maskSteps(input), ...etcSteps(input), ...bindSteps(input), ...launchSteps(input)],
  };
}
