/**
 * The view of the live host (issue 9): with the host's / as the root
 * directory, every other mount that holds files is overlaid at its own path
 * (its upper and work dirs under TEMPDIR/mounts/NAME), so writes under /home
 * or a project disk land in the sandbox too; /run is a fresh tmpfs (host
 * sockets there bypass any overlay); --hide makes paths show empty.
 */
import type { PlanInput } from './types.js';
import { BELOW, MOUNTS_FSTAB, HIDDEN_FILE } from './paths.js';
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

/** Where the mounts go in fstab(5) and how: an overlay, or with --direct the host's mount itself (writes reach it). */
function fstabLine(input: PlanInput, m: HostMount): string {
  const target = `${input.tempdir}/root${m.path}`;
  if (input.config.direct) return `${m.path} ${target} none bind 0 0\n`;
  const d = `${input.tempdir}/mounts/${m.name}`;
  return `minc-overlay ${target} overlay lowerdir=${m.path},upperdir=${d}/upper,workdir=${d}/work${overlayExtra(input.config)} 0 0\n`;
}

/** fstab(5) of the mounts, for one `mount --all --fstab` (paths with blanks or option separators are bound apart). */
export function mountsFstab(input: PlanInput): string {
  return shownMounts(input).filter((m) => m.how === 'overlay').map((m) => fstabLine(input, m)).join('');
}

/** After the root: the host's other mounts, each at its own path. */
export function submountSteps(input: PlanInput): Step[] {
  const mounts = shownMounts(input);
  const root = `${input.tempdir}/root`;
  const direct = input.config.direct;
  const steps: Step[] = [];
  const listed = mounts.filter((m) => m.how === 'overlay');
  if (listed.length > 0) {
    steps.push({
      why: direct
        ? `Bind the host's other mounts at their own paths (${listed.map((m) => m.path).join(' ')}), all in one mount(8) (--direct: writes reach them)`
        : `Overlay the host's other mounts at their own paths (${listed.map((m) => m.path).join(' ')}), all in one mount(8): writes under them land in the sandbox too`,
      argv: ['host_mounts', `${input.tempdir}/${MOUNTS_FSTAB}`],
    });
  }
  for (const m of mounts.filter((x) => x.how === 'bind')) {
    steps.push(direct
      ? { why: `Bind ${m.path} (--direct: writes reach it)`, argv: [mountTool(input), '--bind', '--', m.path, `${root}${m.path}`] }
      : { why: `Bind ${m.path} read-only (overlayfs cannot take its path in its options)`, argv: [mountTool(input), '--bind', '-o', 'ro', '--', m.path, `${root}${m.path}`] });
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
  const fstab = mountsFstab(input);
  if (fstab) files[MOUNTS_FSTAB] = fstab;
  if (input.config.hide?.length) files[HIDDEN_FILE] = '';
  return files;
}
