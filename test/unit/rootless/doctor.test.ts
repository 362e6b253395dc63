import { describe, expect, it } from 'vitest';
import { cgroupDelegationCheck, fuseChecks, subidChecks, usernsSysctlChecks, usernsTryCheck } from '../../../src/rootless/doctor.js';

describe('usernsSysctlChecks', () => {
  it('a kernel that allows user namespaces (no Debian or AppArmor sysctl): one ok line', () => {
    expect(usernsSysctlChecks('96364\n', null, null)).toEqual([{ what: 'user.max_user_namespaces', ok: true, detail: '96364', fix: expect.stringMatching(/^sysctl -w user.max_user_namespaces=/) }]);
  });

  it('max_user_namespaces 0, Debian\'s old switch off, Ubuntu 24.04\'s AppArmor restriction: each fails with what to set', () => {
    const c = usernsSysctlChecks('0\n', '0\n', '1\n');
    expect(c.map((x) => [x.what, x.ok])).toEqual([
      ['user.max_user_namespaces', false], ['kernel.unprivileged_userns_clone', false], ['kernel.apparmor_restrict_unprivileged_userns', false],
    ]);
    expect(c[1]!.fix).toMatch(/^sysctl -w kernel.unprivileged_userns_clone=1 /);
    expect(c[2]!.detail).toMatch(/Ubuntu 24.04/);
    expect(c[2]!.fix).toMatch(/^sysctl -w kernel.apparmor_restrict_unprivileged_userns=0 .*AppArmor profile/);
  });

  it('the switches on: ok; a kernel without user namespaces: fails', () => {
    expect(usernsSysctlChecks('10\n', '1\n', '0\n').every((x) => x.ok)).toBe(true);
    expect(usernsSysctlChecks(null, null, null)[0]).toMatchObject({ ok: false, detail: expect.stringMatching(/no user namespaces/) });
  });

  it('the try: unshare\'s first line of words when it fails', () => {
    expect(usernsTryCheck(0, '').ok).toBe(true);
    expect(usernsTryCheck(1, 'unshare: unshare failed: Operation not permitted\nmore\n')).toMatchObject({ ok: false, detail: 'unshare --user --map-root-user failed: unshare: unshare failed: Operation not permitted' });
  });
});

describe('subidChecks', () => {
  const suid = { path: '/usr/bin/newuidmap', mode: 0o104755, uid: 0, usable: true };
  it('ranges by name or uid, and setuid helpers: ok', () => {
    const c = subidChecks('ann', 1001, 'bob:100000:65536\nann:165536:65536\n', '1001:165536:65536\n', [suid]);
    expect(c[0]).toMatchObject({ ok: true, detail: 'uids 165536-231071, gids 165536-231071' });
    expect(c[1]).toMatchObject({ what: 'newuidmap', ok: true });
  });

  it('no ranges: a warning with the usermod line; a helper that is not setuid, or missing: what to do', () => {
    const c = subidChecks('ann', 1001, 'bob:100000:65536\n', null, [{ ...suid, mode: 0o100755 }, { path: '/usr/bin/newgidmap', mode: null, usable: false }]);
    expect(c[0]).toMatchObject({ ok: false, optional: true, fix: 'usermod --add-subuids 100000-165535 --add-subgids 100000-165535 ann (as root)' });
    expect(c[1]).toMatchObject({ ok: false, detail: expect.stringMatching(/not setuid root \(mode 755\)/), fix: expect.stringMatching(/^chmod u\+s/) });
    expect(c[2]).toMatchObject({ ok: false, fix: 'apt-get install uidmap' });
  });
});

describe('fuseChecks', () => {
  it('/dev/fuse 0600 (no udev): names the mode as the cause and the chmod', () => {
    const [f, d] = fuseChecks('/usr/bin/fuse-overlayfs', { path: '/dev/fuse', mode: 0o020600, uid: 0, usable: false });
    expect(f!.ok).toBe(true);
    expect(d).toMatchObject({ ok: false, detail: expect.stringMatching(/^mode 0600: this user may not open it .*udev/), fix: expect.stringMatching(/^chmod 0666 \/dev\/fuse/) });
  });

  it('0666 is ok; no fuse-overlayfs says what to install; no /dev/fuse says modprobe', () => {
    expect(fuseChecks('/x', { path: '/dev/fuse', mode: 0o020666, usable: true })[1]).toMatchObject({ ok: true, detail: 'mode 0666' });
    expect(fuseChecks(null, { path: '/dev/fuse', mode: null, usable: false }).map((c) => c.fix)).toEqual(['apt-get install fuse-overlayfs', 'modprobe fuse (as root)']);
  });
});

describe('cgroupDelegationCheck', () => {
  it('all delegated: ok; some not: a warning saying which and why, with the advice for the version', () => {
    expect(cgroupDelegationCheck([['memory', { ok: true }], ['pids', { ok: true }]], 1000)).toMatchObject({ ok: true, detail: 'delegated: memory, pids' });
    const c = cgroupDelegationCheck([['memory', { ok: true }], ['cpu', { ok: false, why: 'not yours', version: 2 }]], 1000);
    expect(c).toMatchObject({ ok: false, optional: true, detail: expect.stringMatching(/^delegated: memory; cpu: not yours/) });
    expect(c.fix).toMatch(/systemd-run --user --scope -p Delegate=yes minc/);
    expect(cgroupDelegationCheck([['pids', { ok: false, why: 'x', version: 1 }]], 1000).fix).toMatch(/cgroup v1 has no delegation/);
  });
});
