/** The host's mounts a sandbox of the live host overlays (src/run/mountinfo.ts). */
import { describe, expect, it } from 'vitest';
import { mountName, mountPath, submounts } from '../../../src/run/mountinfo.js';

const line = (id: number, mp: string, fstype: string): string => `${id} 1 0:${id} / ${mp} rw,relatime shared:1 - ${fstype} src rw`;

describe('submounts', () => {
  it('keeps mounts that hold files, parents first; leaves out virtual ones, the fresh dirs and skipped paths', () => {
    const info = [
      line(1, '/', 'ext4'), line(2, '/proc', 'proc'), line(3, '/sys', 'sysfs'), line(4, '/sys/fs/cgroup', 'cgroup2'),
      line(5, '/home', 'ext4'), line(6, '/home/u/proj', 'xfs'), line(7, '/dev/shm', 'tmpfs'), line(8, '/run/user/1000', 'tmpfs'),
      line(9, '/boot/efi', 'vfat'), line(10, '/tmp', 'tmpfs'), line(11, '/mnt/fuse', 'fuse.sshfs'), line(12, '/srv/runs', 'tmpfs'),
      line(13, '/nix', 'btrfs'), line(14, '/proc/sys/fs/binfmt_misc', 'binfmt_misc'), line(15, '/mnt/a\\040b', 'ext4'),
    ].join('\n');
    const got = submounts(info, ['/srv/runs']);
    expect(new Set(got.map((m) => m.path))).toEqual(new Set(['/home', '/home/u/proj', '/boot/efi', '/mnt/fuse', '/nix', '/mnt/a b']));
    // parents before children
    expect(got.findIndex((m) => m.path === '/home')).toBeLessThan(got.findIndex((m) => m.path === '/home/u/proj'));
    expect(got.find((m) => m.path === '/mnt/a b')?.how).toBe('bind');
    expect(got.find((m) => m.path === '/home')?.how).toBe('overlay');
  });

  it('a later mount at or above a path hides what was there', () => {
    const info = [line(1, '/', 'ext4'), line(2, '/data/x', 'ext4'), line(3, '/data', 'tmpfs'), line(4, '/data', 'xfs')].join('\n');
    expect(submounts(info).map((m) => [m.path, m.fstype])).toEqual([['/data', 'xfs']]);
  });
});

describe('mountName / mountPath', () => {
  it('percent-encodes a mount point into one readable file name, and back as bytes', () => {
    expect(mountName('/home')).toBe('home');
    expect(mountName('/boot/efi')).toBe('boot%2Fefi');
    expect(mountName('/var/tmp/x y%')).toBe('var%2Ftmp%2Fx%20y%25');
    for (const p of ['/home', '/boot/efi', '/a b/c%d/é']) expect(mountPath(mountName(p)).toString()).toBe(p);
  });
});
