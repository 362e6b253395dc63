/**
 * A plan is data: an ordered list of steps, each a reason and an argv.  The
 * namespace side runs them through libexec/minc-stage's `step` runner; an argv
 * may start with one of the stage's functions (STAGE_FUNCTIONS), a closed set.
 */

import type { Config } from '../options/validate.js';
import type { Facts } from '../run/facts.js';

/** A word of an argv: a literal string, or a raw shell word (`"$@"`, `"$FINAL"`) the stage expands. */
export type Arg = string | { readonly sh: string };

export interface Step {
  readonly why: string;
  readonly argv: readonly Arg[];
  /**
   * Steps of a lane run in a background subshell, beside the steps that
   * follow, until a `join_lane NAME` step waits for them (the set-up of /etc
   * needs nothing of what is mounted below the root meanwhile, and the
   * machine has two cores).
   */
  readonly lane?: string;
  /** the step's stderr is the user's (the command, an --ftrace script): not captured by the runner */
  readonly userOutput?: boolean;
  /**
   * a mount(8) step that is a line of the mount table of this name (a file
   * in the temp dir): mounted with the others by one `mount_table` step
   * (plan/table.ts), not run on its own
   */
  readonly table?: string;
}

/** The functions of libexec/minc-stage a step may call. */
export const STAGE_FUNCTIONS = [
  'host_pid', 'plain_dir', 'hostrun', 'etc_file', 'etc_bind', 'mtab_link', 'bind', 'pivot', 'hide', 'mount_table', 'join_lane', 'launch', 'launch_direct',
  'cross_enter', 'binfmt_register', 'enter_pidns', 'fuse_root', 'fuse_wait', 'net_ready', 'net_wait',
] as const;

/** Values the stage reads as shell variables. */
export type StageVars = Readonly<Record<string, string>>;

/** What the plan builders are made from: the validated options and the host's facts. */
export interface PlanInput {
  readonly config: Config;
  readonly facts: Facts;
  /** the temporary directory (root/ storage/ work/ resolv.conf hosts ...) */
  readonly tempdir: string;
  /** escape sequences around debug lines (chalk's, on a terminal) */
  readonly colour?: { readonly on: string; readonly off: string };
}

/** A file of the plan: its content, or a symlink. */
export type PlanFile = string | { readonly symlink: string };

export interface Plan {
  readonly vars: StageVars;
  readonly steps: readonly Step[];
  /** files (name in the temp dir -> content, or a symlink's target) the runner makes before the stage starts */
  readonly files?: Readonly<Record<string, PlanFile>>;
}
