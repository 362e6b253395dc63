/**
 * --cross: the namespace-side steps that make every process of the
 * container run under qemu-user, with nothing of the host's binfmt_misc
 * changed.  Pure: Config and Facts in, steps out.
 *
 * Just before pivot_root, init enters a user namespace of its own (the full
 * identity map: ids and files stay as they are) with a mount namespace it
 * owns, mounts that user namespace's own binfmt_misc (Linux 6.7+) and
 * registers the interpreter with F (the kernel opens it now, from the host's
 * root: it need not be in the container).  The set-up before it runs as
 * before, as root of the host's user namespace: a user namespace from the
 * start would have the kernel refuse the overlay of / (its submounts are
 * locked), the overlay's trusted xattrs, mknod of /dev's nodes and sysfs.
 * The mounts copied into the new mount namespace are locked there (the
 * container cannot unmount its masks); the root is bound onto itself so
 * pivot_root, which refuses a locked new root, takes it.
 */
import { CROSS_FIFO } from './paths.js';
import type { Arg, PlanInput, Step } from './types.js';

const s = (why: string, ...argv: Arg[]): Step => ({ why, argv });

export function crossSteps({ config, facts, tempdir }: PlanInput): Step[] {
  const cross = config.cross;
  if (!cross?.register) return []; // none, or a kernel older than 6.7: the host's own registration runs it
  const root = `${tempdir}/root`;
  const { mount, unshare, sh, mkfifo } = facts.tools;
  if (!mount || !unshare || !sh || !mkfifo) throw new Error('mount, unshare, sh or mkfifo not found on this host (minc --doctor says what to install)');
  const binfmt = `${root}/proc/sys/fs/binfmt_misc`;
  const own = [
    s("Mount this user namespace's own binfmt_misc (Linux 6.7+): the host's is not touched", mount, '-t', 'binfmt_misc', '-o', 'nosuid,nodev,noexec', 'minc-binfmt', binfmt),
    s(`Register ${cross.interpreter} for ${cross.arch} binaries, F: the kernel opens it now, from the host's root`, 'binfmt_register', `${binfmt}/register`, cross.register),
  ];
  // rootless: the run is in a user namespace of its own already (src/rootless/plan.ts)
  if (config.rootless) return own;
  return [
    s('The fifo on which the new user namespace learns it has its id map', mkfifo, '-m', '600', `${tempdir}/${CROSS_FIFO}`),
    { ...s('Enter a user namespace of its own (every id mapped to itself) and a mount namespace it owns (--cross)', 'cross_enter', unshare, sh, `${tempdir}/${CROSS_FIFO}`, '--', { sh: '"$@"' }), userOutput: true },
    ...own,
    s('Bind the root onto itself: pivot_root takes no mount locked by the new user namespace', mount, '--rbind', root, root),
  ];
}
