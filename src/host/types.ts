/**
 * The host side of a run as data (network and cgroup setup, before the
 * namespaces are entered): steps for libexec/minc-host, each with the undo
 * that is recorded in TEMPDIR/undo before the step runs.
 */
import type { Step } from '../plan/types.js';

export interface HostStep extends Step {
  /** what removes what this step makes; recorded before the step runs */
  readonly undo?: Step;
}

/** The functions of libexec/minc-host (and minc-stage) a host step or an undo may call. */
export const HOST_FUNCTIONS = [
  'undo_step', 'in_net', 'locked', 'ipb', 'ipt_apply', 'ipt_loose', 'ipt_remove', 'bridge_up', 'lease_release', 'iface_home',
  'put', 'cg_make', 'cg_enable', 'cg_join', 'cg_remove', 'bridge_make', 'bridge_down', 'leases_left', 'has_link', 'flag',
] as const;

export interface HostPlan {
  readonly steps: readonly HostStep[];
  /** words put before unshare in the launcher (nsenter into the network namespace, taskset) */
  readonly prefix: readonly string[];
  /** extra unshare options (--net for a plain --net raw) */
  readonly unshare: readonly string[];
}
