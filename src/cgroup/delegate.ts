/**
 * cgroup limits for a user who is not root (issue 11): the run's groups go
 * below a cgroup the user was given (delegated), never anywhere else.
 *
 * Delegation is ownership: systemd's `Delegate=yes` (user@UID.service has
 * it) chowns a unit's group dir and its cgroup.procs to the user; an admin
 * delegating a cgroup v1 group does the same by hand.  For each controller
 * the limits need, the group minc itself runs in (/proc/self/cgroup) must be
 * the user's, and the run's groups go below the topmost group of the user's
 * own chain above it (user@UID.service when minc runs under it, an admin's
 * group...): moving a process needs the user to own the common ancestor of
 * where it is and where it goes (cgroup v2), and the top of the chain is one.
 * cgroup v2 also lets no process sit in a group that hands controllers down:
 * that top group must hold none of minc's (a unit's own group under
 * user@UID.service does; the service's does not), unless it hands the
 * controllers down already.  Everything here is a pure function of the text
 * of /proc/self/cgroup and /proc/self/mountinfo and of a probe of the tree,
 * so unit tests give a fake tree.
 */
import type { Controller, Hierarchies, Hierarchy } from './config.js';

/** The groups of this process, from /proc/self/cgroup: cgroup v2's path, and v1's per controller. */
export interface OwnGroups {
  readonly v2?: string;
  readonly v1: Readonly<Record<string, string>>;
}

export function parseProcCgroup(text: string): OwnGroups {
  let v2: string | undefined;
  const v1: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line);
    if (!m) continue;
    if (m[1] === '0' && m[2] === '') v2 = m[3]!;
    else for (const c of m[2]!.split(',')) if (c) v1[c] = m[3]!;
  }
  return { ...(v2 !== undefined ? { v2 } : {}), v1 };
}

const unescape = (p: string): string => p.replace(/\\(\d{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));

/** The root (within its hierarchy) of the cgroup mount at mount point, from /proc/self/mountinfo. */
export function mountRoot(mountinfo: string, mount: string): string | null {
  for (const line of mountinfo.split('\n')) {
    const [pre, post] = line.split(' - ');
    if (!pre || !post || !/^cgroup2? /.test(post)) continue;
    const f = pre.split(' ');
    if (unescape(f[4] ?? '') === mount) return unescape(f[3] ?? '/');
  }
  return null;
}

/** What the detection reads of the tree (the real one, or a unit test's). */
export interface Probe {
  /** the owner uid of a path, null when it is not there */
  owner(path: string): number | null;
  /** a file's text, null when it cannot be read */
  read(path: string): string | null;
}

export type Delegation =
  | { readonly ok: true; readonly hierarchy: Hierarchy }
  | { readonly ok: false; readonly why: string };

const words = (text: string | null): string[] => (text ?? '').trim().split(/\s+/).filter(Boolean);

/** The dir of group path (as /proc/self/cgroup says it) in the hierarchy mounted at mount with root root. */
function groupDir(mount: string, root: string, path: string): string | null {
  const r = root.replace(/\/+$/, '');
  if (r !== '' && path !== r && !path.startsWith(`${r}/`)) return null;
  const rel = path.slice(r.length).replace(/\/+$/, '');
  return `${mount}${rel}`;
}

/**
 * Where a user's run may put its group for controller c (in hierarchy h):
 * the topmost of the user's own groups from the one minc runs in upward,
 * as `base` of the hierarchy; else why not.
 */
export function delegatedHierarchy(c: Controller, h: Hierarchy, own: OwnGroups, mountinfo: string, probe: Probe, uid: number): Delegation {
  const path = h.version === 2 ? own.v2 : own.v1[c];
  const where = `cgroup v${h.version}, ${h.mount}`;
  if (path === undefined) return { ok: false, why: `minc is in no ${c} group (${where})` };
  const dir = groupDir(h.mount, mountRoot(mountinfo, h.mount) ?? '/', path);
  if (dir === null) return { ok: false, why: `minc's ${c} group ${path} is not below ${h.mount}` };
  const mine = (d: string): boolean => probe.owner(d) === uid && probe.owner(`${d}/cgroup.procs`) === uid;
  if (!mine(dir)) return { ok: false, why: `minc runs in ${dir} (${where}), which is not yours` };
  let top = dir;
  while (top.length > h.mount.length) {
    const up = top.slice(0, top.lastIndexOf('/'));
    if (up.length < h.mount.length || !mine(up)) break;
    top = up;
  }
  if (h.version === 2) {
    if (!words(probe.read(`${top}/cgroup.controllers`)).includes(c)) {
      return { ok: false, why: `your delegated group ${top} is not given the ${c} controller (its cgroup.controllers)` };
    }
    if (top === dir && !words(probe.read(`${top}/cgroup.subtree_control`)).includes(c)) {
      return { ok: false, why: `minc runs in your delegated group ${top} itself, and cgroup v2 lets no process sit in a group that hands ${c} down (start minc in a group below it)` };
    }
  }
  return { ok: true, hierarchy: { ...h, base: top } };
}

/** What to do where a user has no delegated group, for this cgroup version. */
export function delegationAdvice(version: 1 | 2, uid: number): string {
  return version === 2
    ? `run minc in a delegated cgroup: systemd-run --user --scope -p Delegate=yes minc ... (user@${uid}.service must delegate the controller: Delegate=cpu memory pids in a drop-in of user@.service)`
    : 'cgroup v1 has no delegation of its own: an admin makes a group in each controller\'s hierarchy, chowns it (with its files) to you, and starts minc inside it';
}

/**
 * The hierarchies of the controllers needed (with the option that needs
 * each), each with its delegated base; throws err(message) for the first
 * that has none.
 */
export function delegatedHierarchies(
  need: ReadonlyMap<Controller, string>, hierarchies: Hierarchies, own: OwnGroups, mountinfo: string, probe: Probe, uid: number,
  err: (message: string) => Error,
): Hierarchies {
  const out: Partial<Record<Controller, Hierarchy>> = {};
  for (const [c, option] of need) {
    const h = hierarchies[c];
    if (!h) continue; // (the caller says the host lacks it)
    const d = delegatedHierarchy(c, h, own, mountinfo, probe, uid);
    if (!d.ok) throw err(`${option} without root needs a cgroup delegated to you: ${d.why}; ${delegationAdvice(h.version, uid)}`);
    out[c] = d.hierarchy;
  }
  return out;
}
