/**
 * minc --doctor for a user who is not root (issue 11): can this user make a
 * user namespace (the sysctls, Ubuntu's AppArmor restriction), map ids
 * (subuid/subgid ranges, newuidmap/newgidmap), mount the host view
 * (fuse-overlayfs, /dev/fuse), and set cgroup limits (a delegated group)?
 * Each check is a pure function of what was read, so unit tests give them
 * any host; `rootlessChecks` reads this one.
 */
import { accessSync, constants, readFileSync, statSync } from 'node:fs';
import { userInfo } from 'node:os';
import { findHierarchies, type Controller } from '../cgroup/config.js';
import { delegatedHierarchy, delegationAdvice, parseProcCgroup, type Probe } from '../cgroup/delegate.js';
import { firstRange } from './ids.js';

export interface Check {
  readonly what: string;
  readonly ok: boolean;
  /** only some options need it: reported, but not a failure */
  readonly optional?: boolean;
  readonly detail: string;
  readonly fix?: string;
}

const PERSIST = '(and in a file of /etc/sysctl.d/ to keep it)';

/** The user-namespace sysctls: each text as read (null where the kernel has no such file). */
export function usernsSysctlChecks(maxUserNs: string | null, unprivClone: string | null, apparmorRestrict: string | null): Check[] {
  const out: Check[] = [];
  const max = maxUserNs === null ? null : Number(maxUserNs.trim());
  out.push(max === null
    ? { what: 'user.max_user_namespaces', ok: false, detail: 'no /proc/sys/user/max_user_namespaces: this kernel has no user namespaces', fix: 'a kernel built with CONFIG_USER_NS=y' }
    : { what: 'user.max_user_namespaces', ok: max > 0, detail: String(max), fix: `sysctl -w user.max_user_namespaces=15000 ${PERSIST}` });
  if (unprivClone !== null) {
    const on = unprivClone.trim() !== '0';
    out.push({ what: 'kernel.unprivileged_userns_clone', ok: on, detail: on ? unprivClone.trim() : '0: only root may make user namespaces (Debian\'s old kernels)', fix: `sysctl -w kernel.unprivileged_userns_clone=1 ${PERSIST}` });
  }
  if (apparmorRestrict !== null) {
    const on = apparmorRestrict.trim() !== '0';
    out.push({
      what: 'kernel.apparmor_restrict_unprivileged_userns', ok: !on,
      detail: on ? '1: AppArmor gives a user namespace no capabilities unless a profile allows it (Ubuntu 24.04\'s default)' : '0',
      fix: `sysctl -w kernel.apparmor_restrict_unprivileged_userns=0 ${PERSIST}, or an AppArmor profile for /usr/bin/unshare that allows userns (as Ubuntu ships for podman and bwrap)`,
    });
  }
  return out;
}

/** Does a user namespace work for this user: `unshare --user --map-root-user true`'s status and words. */
export function usernsTryCheck(status: number | null, stderr: string): Check {
  const ok = status === 0;
  return { what: 'user namespace', ok, detail: ok ? 'unshare --user --map-root-user works' : `unshare --user --map-root-user failed: ${stderr.trim().split('\n')[0] || `status ${status}`}`, fix: 'see the sysctl lines above' };
}

export interface FileFacts {
  readonly path: string;
  /** stat's mode, null when missing */
  readonly mode: number | null;
  readonly uid?: number;
  /** the user may use it (execute, or open read-write) */
  readonly usable: boolean;
}

/** Subordinate ranges and the setuid helpers that map them. */
export function subidChecks(name: string, uid: number, subuidText: string | null, subgidText: string | null, helpers: readonly FileFacts[]): Check[] {
  const u = subuidText === null ? null : firstRange(subuidText, name, uid);
  const g = subgidText === null ? null : firstRange(subgidText, name, uid);
  const range = (r: { start: number; count: number } | null): string => (r ? `${r.start}-${r.start + r.count - 1}` : 'none');
  const out: Check[] = [{
    what: 'subuid/subgid ranges', ok: u !== null && g !== null, optional: true,
    detail: u && g ? `uids ${range(u)}, gids ${range(g)}` : `uids ${range(u)}, gids ${range(g)} in /etc/subuid and /etc/subgid: only one id maps (no --user, every file the user's)`,
    fix: `usermod --add-subuids 100000-165535 --add-subgids 100000-165535 ${name} (as root)`,
  }];
  for (const h of helpers) {
    const setuid = h.mode !== null && (h.mode & 0o4000) !== 0 && h.uid === 0;
    out.push({
      what: h.path.slice(h.path.lastIndexOf('/') + 1), ok: setuid && h.usable, optional: true,
      detail: h.mode === null ? 'not found (maps the subordinate ranges)' : setuid ? `${h.path}, setuid root` : `${h.path} is not setuid root (mode ${(h.mode & 0o7777).toString(8)}): the subordinate ranges cannot be mapped`,
      fix: h.mode === null ? 'apt-get install uidmap' : `chmod u+s ${h.path} (as root; the uidmap package installs it so)`,
    });
  }
  return out;
}

/** fuse-overlayfs (the host view's copy-on-write root) and /dev/fuse, which it opens. */
export function fuseChecks(fuseOverlayfs: string | null, dev: FileFacts): Check[] {
  const mode = dev.mode === null ? '' : (dev.mode & 0o777).toString(8).padStart(4, '0');
  return [
    { what: 'fuse-overlayfs', ok: fuseOverlayfs !== null, detail: fuseOverlayfs ?? 'not found (the host\'s / as a copy-on-write root needs it)', fix: 'apt-get install fuse-overlayfs' },
    dev.mode === null
      ? { what: '/dev/fuse', ok: false, detail: 'missing', fix: 'modprobe fuse (as root)' }
      : {
        what: '/dev/fuse', ok: dev.usable,
        detail: dev.usable ? `mode ${mode}` : `mode ${mode}: this user may not open it (a host without udev leaves it so; Debian's udev makes it 0666)`,
        fix: 'chmod 0666 /dev/fuse (as root; udev\'s rule does so on a standard host)',
      },
  ];
}

/** cgroup delegation, for the limit options: which controllers have a group delegated to the user. */
export function cgroupDelegationCheck(results: ReadonlyArray<readonly [Controller, { ok: boolean; why?: string; version?: 1 | 2 }]>, uid: number): Check {
  const ok = results.filter(([, r]) => r.ok).map(([c]) => c);
  const bad = results.filter(([, r]) => !r.ok);
  const version = bad.find(([, r]) => r.version)?.[1].version ?? 2;
  return {
    what: 'cgroup delegation', ok: bad.length === 0, optional: true,
    detail: bad.length === 0 ? `delegated: ${ok.join(', ')}` : `${ok.length ? `delegated: ${ok.join(', ')}; ` : ''}${bad.map(([c, r]) => `${c}: ${r.why}`).join('; ')} (needed for --mem-limit, --cpu-*, --pid-max)`,
    fix: delegationAdvice(version, uid),
  };
}

const readOrNull = (p: string): string | null => {
  try {
    return readFileSync(p, 'utf8').slice(0, 1 << 20);
  } catch {
    return null;
  }
};

function facts(path: string, access: number): FileFacts {
  try {
    const st = statSync(path);
    let usable = true;
    try {
      accessSync(path, access);
    } catch {
      usable = false;
    }
    return { path, mode: st.mode, uid: st.uid, usable };
  } catch {
    return { path, mode: null, usable: false };
  }
}

/** The checks for this host and user (not root). */
export function rootlessChecks(which: (tool: string) => string | null | undefined, tryUserns: () => { status: number | null; stderr: string }): Check[] {
  const uid = process.getuid?.() ?? 0;
  let name = String(uid);
  try {
    name = userInfo().username;
  } catch {
    /* no passwd entry: subid(5) may name the number */
  }
  const out: Check[] = [{ what: 'user', ok: true, detail: `${name} (uid ${uid}), not root: minc runs rootless, in a user namespace` }];
  out.push(...usernsSysctlChecks(readOrNull('/proc/sys/user/max_user_namespaces'), readOrNull('/proc/sys/kernel/unprivileged_userns_clone'), readOrNull('/proc/sys/kernel/apparmor_restrict_unprivileged_userns')));
  const t = tryUserns();
  out.push(usernsTryCheck(t.status, t.stderr));
  const helpers = ['newuidmap', 'newgidmap'].map((h) => facts(which(h) ?? `/usr/bin/${h}`, constants.X_OK));
  out.push(...subidChecks(name, uid, readOrNull('/etc/subuid'), readOrNull('/etc/subgid'), helpers));
  out.push(...fuseChecks(which('fuse-overlayfs') ?? null, facts('/dev/fuse', constants.R_OK | constants.W_OK)));
  const mountinfo = readOrNull('/proc/self/mountinfo') ?? '';
  const hier = findHierarchies(mountinfo, (m) => readOrNull(`${m}/cgroup.controllers`));
  const own = parseProcCgroup(readOrNull('/proc/self/cgroup') ?? '');
  const probe: Probe = { owner: (p) => facts(p, constants.F_OK).uid ?? null, read: readOrNull };
  const results = (['memory', 'cpu', 'pids'] as const).map((c) => {
    const h = hier[c];
    if (!h) return [c, { ok: false, why: 'no such controller on this host' }] as const;
    const d = delegatedHierarchy(c, h, own, mountinfo, probe, uid);
    return [c, d.ok ? { ok: true, version: h.version } : { ok: false, why: d.why, version: h.version }] as const;
  });
  out.push(cgroupDelegationCheck(results, uid));
  return out;
}
