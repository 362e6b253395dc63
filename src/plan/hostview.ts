/**
 * The view of the live host (issue 9): with the host's / as the root
 * directory, every other mount that holds files is overlaid at its own path
 * (its upper and work dirs under TEMPDIR/mounts/NAME), so writes under /home
 * or a project disk land in the sandbox too; /run is a fresh tmpfs (host
 * sockets there bypass any overlay); --hide makes paths show empty.  The
 * host's mounts are lines of the one mount table below the root (issue 12).
 */
import type { PlanInput } from './types.js';
import { BELOW, HIDDEN_FILE } from './paths.js';
import type { Step } from './types.js';
import type { HostMount } from '../run/mountinfo.js';

const mountTool = (input: PlanInput): string => {
  const p = input.facts.tools.mount;
  if (!p) throw new Error('mount not found on this host (minc --doctor says what to install)');
  return p;
};

/**
 * Options of every overlay of the run: a throwaway one (not kept) is
 * `volatile`: overlayfs then skips syncing the upper dir, whose files are
 * removed right after (a kept one is synced: it is reused).
 */
export const overlayExtra = (config: PlanInput['config']): string => (config.keep ? '' : ',volatile');

/** The host's mounts this run shows (none unless the root directory is the host's / itself). */
export function shownMounts({ config, facts }: PlanInput): readonly HostMount[] {
  // (rootless: fuse-overlayfs shows them all through its lower, src/rootless/plan.ts)
  if (config.rootdir !== '/' || config.layers || config.rootless) return [];
  return facts.mounts ?? [];
}

/**
 * The option that marks a host mount's line in the mount table: mount(8)
 * keeps X- options to itself (neither the kernel nor a helper sees them);
 * the stage's mount_table reads it to bind read-only, instead, a host mount
 * overlayfs refused as a lower dir (some FUSE and network file systems).
 */
export const HOST_MARK = 'X-minc.host';

/** The host mounts whose place the /etc binds depend on: the binds must come after them (not in the one table). */
export const coversEtc = (input: PlanInput): boolean =>
  shownMounts(input).some((m) => m.path === '/etc' || m.path === '/etc/resolv.conf' || m.path === '/etc/hosts');

/**
 * After the root: the host's other mounts, each at its own path, as lines of
 * the one mount table below the root (BELOW): overlays (with --direct the
 * host's mounts bound, writes reach them), then those overlay options cannot
 * carry, bound read-only.
 */
export function submountSteps(input: PlanInput): Step[] {
  const mounts = shownMounts(input);
  const root = `${input.tempdir}/root`;
  const direct = input.config.direct;
  const mount = mounts.length > 0 ? mountTool(input) : '';
  const steps: Step[] = [];
  for (const m of mounts.filter((x) => x.how === 'overlay')) {
    const d = `${input.tempdir}/mounts/${m.name}`;
    steps.push(direct
      ? { why: `Bind the host's ${m.path} at its own path (--direct: writes reach it)`, argv: [mount, '--bind', '-o', HOST_MARK, '--', m.path, `${root}${m.path}`], table: BELOW }
      : {
        why: `Overlay the host's ${m.path} at its own path: writes under it land in the sandbox too`,
        argv: [mount, '-t', 'overlay', '-o', `lowerdir=${m.path},upperdir=${d}/upper,workdir=${d}/work${overlayExtra(input.config)},${HOST_MARK}`, 'minc-overlay', `${root}${m.path}`],
        table: BELOW,
      });
  }
  for (const m of mounts.filter((x) => x.how === 'bind')) {
    steps.push(direct
      ? { why: `Bind ${m.path} (--direct: writes reach it)`, argv: [mount, '--bind', '--', m.path, `${root}${m.path}`], table: BELOW }
      : { why: `Bind ${m.path} read-only (overlayfs cannot take its path in its options)`, argv: [mount, '--bind', '-o', 'ro', '--', m.path, `${root}${m.path}`], table: BELOW });
  }
  return steps;
}

/** /run: a fresh tmpfs, as docker and nspawn give (the host's sockets there bypass the overlay). */
export function runSteps(input: PlanInput): Step[] {
  const root = `${input.tempdir}/root`;
  return [
    { why: '/run mount point', argv: ['plain_dir', `${root}/run`] },
    { why: "A fresh /run: the host's sockets there (docker.sock, D-Bus, systemd) would bypass the overlay", argv: [mountTool(input), '-t', 'tmpfs', '-o', 'mode=755,nosuid,nodev', 'tmpfs', `${root}/run`], table: BELOW },
  ];
}

/** --hide PATH: shows empty (resolved inside the root). */
export function hideSteps({ config, tempdir }: PlanInput): Step[] {
  return (config.hide ?? []).map((p) => ({ why: `Hide ${p} (--hide): it shows empty`, argv: ['hide', `${tempdir}/root`, p] }));
}

/** Files the runner writes into the temp dir before the stage starts. */
export function hostViewFiles(input: PlanInput): Record<string, string> {
  const files: Record<string, string> = {};
  if (input.config.hide?.length) files[HIDDEN_FILE] = '';
  return files;
}
