import { mkdirSync, mkdtempSync, openSync, closeSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { UsageError } from '../../../src/errors.js';
import { parseArgs, type MincArgs } from '../../../src/options/parse.js';
import { parseBind, parseUser, validate } from '../../../src/options/validate.js';
import { CAPABILITIES } from '../../../src/plan/paths.js';
import { writeSettings } from '../../../src/run/settings.js';
import { bundleSnippet, runNode } from '../support/child.js';

let base: string;
beforeAll(() => {
  base = mkdtempSync(join(tmpdir(), 'minc-validate-'));
});
afterAll(() => rmSync(base, { recursive: true, force: true }));

/** A fresh directory below base. */
let n = 0;
function dir(...files: [string, string][]): string {
  const d = join(base, `d${n++}`);
  mkdirSync(d, { recursive: true });
  for (const [name, text] of files) {
    mkdirSync(join(d, name, '..'), { recursive: true });
    writeFileSync(join(d, name), text);
  }
  return d;
}

/** MincArgs for a dry run (validate needs no root then) from minc's own command line syntax. */
const args = (...argv: string[]): MincArgs => parseArgs(['--dry-run', ...argv]);

function usageError(fn: () => unknown): UsageError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(UsageError);
    expect((e as UsageError).status).toBe(2);
    expect((e as Error).message.split('\n')).toHaveLength(1);
    return e as UsageError;
  }
  throw new Error('expected a UsageError, nothing was thrown');
}

describe('parseBind', () => {
  it('binds HOSTPATH at the same path by default, read-write', () => {
    const d = dir();
    expect(parseBind(d)).toEqual({ source: d, target: d, readonly: false });
  });

  it('takes HOSTPATH:PATH', () => {
    const d = dir();
    expect(parseBind(`${d}:/mnt/x`)).toEqual({ source: d, target: '/mnt/x', readonly: false });
  });

  it('reads a trailing :ro as read-only and :rw as read-write', () => {
    const d = dir();
    expect(parseBind(`${d}:ro`)).toEqual({ source: d, target: d, readonly: true });
    expect(parseBind(`${d}:/mnt:ro`)).toEqual({ source: d, target: '/mnt', readonly: true });
    expect(parseBind(`${d}:/mnt:rw`)).toEqual({ source: d, target: '/mnt', readonly: false });
  });

  it('resolves symlinks in the source (it is used from under the old root)', () => {
    const d = dir();
    const link = join(base, `link${n++}`);
    symlinkSync(d, link);
    expect(parseBind(`${link}:/mnt`).source).toBe(d);
  });

  it('takes a file as the source', () => {
    const d = dir(['f', 'x']);
    expect(parseBind(`${d}/f:/etc/f`)).toEqual({ source: `${d}/f`, target: '/etc/f', readonly: false });
  });

  it('normalises the target: repeated and trailing slashes', () => {
    const d = dir();
    expect(parseBind(`${d}://mnt//a/`).target).toBe('/mnt/a');
  });

  it('rejects a relative target', () => {
    const d = dir();
    expect(usageError(() => parseBind(`${d}:mnt`)).message).toMatch(/must be an absolute path/);
  });

  it('rejects a missing source, naming it', () => {
    const missing = join(base, 'does-not-exist');
    expect(usageError(() => parseBind(`${missing}:/mnt`)).message).toContain(missing);
  });

  it("rejects / and '..' as the target", () => {
    const d = dir();
    usageError(() => parseBind(`${d}:/`));
    usageError(() => parseBind(`${d}://`));
    usageError(() => parseBind(`${d}:/mnt/../etc`));
    usageError(() => parseBind(`${d}:/..`));
  });

  it('rejects malformed specs', () => {
    const d = dir();
    usageError(() => parseBind(''));
    usageError(() => parseBind(':/mnt'));
    usageError(() => parseBind(`${d}:/a:/b`));
  });
});

describe('parseUser', () => {
  const passwd = 'root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1001:Alice:/home/alice:/bin/sh\nbob:x:1002:1003::/:/bin/sh\n';
  const group = 'root:x:0:\nalicegrp:x:1001:\nstaff:x:50:alice\naudio:x:60:bob,alice\nalicebob:x:70:alicex,xalice\n';
  let root: string;
  beforeAll(() => {
    root = dir(['etc/passwd', passwd], ['etc/group', group]);
  });

  it('takes a user name and its primary group from the root directory', () => {
    expect(parseUser('alice', [root])).toMatchObject({ uid: 1000, gid: 1001, groups: [50, 60] });
    expect(parseUser('bob', [root])).toMatchObject({ uid: 1002, gid: 1003, groups: [60] });
  });

  it('takes a numeric uid; its gid comes from passwd if the uid is there, else 0', () => {
    expect(parseUser('1000', [root])).toMatchObject({ uid: 1000, gid: 1001, groups: [50, 60] });
    // HOME, USER, LOGNAME come from the entry of the uid; a uid without one gets HOME=/ only
    expect(parseUser('1000', [root]).env).toEqual(parseUser('alice', [root]).env);
    expect(parseUser('alice', [root]).env).toEqual(['HOME=/home/alice', 'USER=alice', 'LOGNAME=alice']);
    expect(parseUser('4242', [root]).env).toEqual(['HOME=/']);
    expect(parseUser('4242', [root])).toMatchObject({ uid: 4242, gid: 0, groups: [] });
  });

  it('takes an explicit group, by name or number', () => {
    expect(parseUser('alice:staff', [root])).toMatchObject({ uid: 1000, gid: 50, groups: [50, 60] });
    expect(parseUser('alice:77', [root])).toMatchObject({ uid: 1000, gid: 77, groups: [50, 60] });
    expect(parseUser('4242:staff', [root])).toMatchObject({ uid: 4242, gid: 50, groups: [] });
    expect(parseUser('0:0', [root])).toMatchObject({ uid: 0, gid: 0, groups: [] });
  });

  it('rejects an unknown user or group, naming it', () => {
    expect(usageError(() => parseUser('mallory', [root])).message).toContain("'mallory'");
    expect(usageError(() => parseUser('alice:nogroup', [root])).message).toContain("'nogroup'");
  });

  it('does not look at the host files when the root has none', () => {
    const empty = dir();
    usageError(() => parseUser('root', [empty]));
    expect(parseUser('12', [empty])).toMatchObject({ uid: 12, gid: 0, groups: [] });
  });

  it('rejects malformed specs', () => {
    usageError(() => parseUser('', [root]));
    usageError(() => parseUser(':1', [root]));
    usageError(() => parseUser('1:', [root]));
    usageError(() => parseUser('1:2:3', [root]));
  });

  it('returns the supplementary groups: those of /etc/group listing the user by name, whole names only', () => {
    // alicebob lists 'alicex' and 'xalice', neither of which is alice
    expect(parseUser('alice', [root]).groups).toEqual([50, 60]);
    expect(parseUser('bob:alicegrp', [root]).groups).toEqual([60]);
    // a uid not in passwd has no name to look up
    expect(parseUser('4242', [root]).groups).toEqual([]);
    // the groups come from the root directory's /etc/group, not the host's
    const noGroup = dir(['etc/passwd', 'root:x:0:0::/:/bin/sh\n']);
    expect(parseUser('root', [noGroup])).toMatchObject({ uid: 0, gid: 0, groups: [] });
    // the first root that has /etc/group wins (the upper dir of a reused temp dir)
    const upper = dir(['etc/group', 'wheel:x:10:alice\n']);
    expect(parseUser('alice', [upper, root]).groups).toEqual([10]);
  });

  it('reads the first root that has the file (the upper dir of a reused temp dir first)', () => {
    const upper = dir(['etc/passwd', 'carol:x:2000:2000::/:/bin/sh\n'], ['etc/group', 'cgrp:x:2001:\n']);
    const noFiles = dir();
    expect(parseUser('carol:cgrp', [upper, root])).toMatchObject({ uid: 2000, gid: 2001, groups: [] });
    // the upper dir's copy is the whole file: a user only in the lower one was deleted there
    usageError(() => parseUser('alice', [upper, root]));
    // an upper dir without the file falls through to the root directory
    expect(parseUser('alice:staff', [noFiles, root])).toMatchObject({ uid: 1000, gid: 50, groups: [50, 60] });
  });
});

describe('validate', () => {
  afterEach(() => vi.restoreAllMocks());

  it('gives a dry run with no options the defaults', () => {
    const c = validate(args(), { SHELL: '/bin/bash' });
    expect(c).toMatchObject({
      command: ['/bin/bash'], rootdir: '/', direct: false, keep: false, binds: [], usedev: false,
      asPid1: false, preserveFds: 0, debug: false, dryRun: true,
    });
    expect(c.tempdir).toBeUndefined();
    expect(c.name).toBeUndefined();
    expect(c.user).toBeUndefined();
    expect(c.nocaps).toBeUndefined();
  });

  it('runs /bin/sh when SHELL is unset or empty, or the root has no such file', () => {
    expect(validate(args(), { SHELL: '/no/such/shell' }).command).toEqual(['/bin/sh']);
    expect(validate(args(), {}).command).toEqual(['/bin/sh']);
    expect(validate(args(), { SHELL: '' }).command).toEqual(['/bin/sh']);
  });

  it('keeps the command as given', () => {
    expect(validate(args('--', 'sh', '-c', 'echo "$0"'), {}).command).toEqual(['sh', '-c', 'echo "$0"']);
  });

  it('makes a run of a user who is not root rootless (fuse-overlayfs over the host), and refuses what needs root', () => {
    vi.spyOn(process as { getuid(): number }, 'getuid').mockReturnValue(1000);
    expect(validate(parseArgs(['true']), {}).rootless).toEqual({ fuse: true, mapAuto: expect.any(Boolean) });
    expect(usageError(() => validate(parseArgs(['--usedev', 'true']), {})).message).toMatch(/--usedev needs root/);
    expect(usageError(() => validate(parseArgs(['--debugfs', 'true']), {})).message).toMatch(/--debugfs needs root/);
  });

  it('root runs are not rootless, but for --nopriv DIR: a direct run of DIR (MINCS)', () => {
    vi.spyOn(process as { getuid(): number }, 'getuid').mockReturnValue(0);
    expect(validate(parseArgs(['true']), {}).rootless).toBeUndefined();
    const d = dir(['file', '']);
    const c = validate(parseArgs(['--nopriv', d, 'true']), {});
    expect(c).toMatchObject({ rootdir: d, direct: true, rootless: { fuse: false } }); // (root's own dir: direct anyway)
    expect(usageError(() => validate(parseArgs(['--nopriv', d, '-r', d, 'true']), {})).message).toMatch(/leave out -r/);
  });

  it('checks and resolves --rootdir', () => {
    const d = dir(['file', '']);
    const link = join(base, `rootlink${n++}`);
    symlinkSync(d, link);
    expect(validate(args('-r', link), {}).rootdir).toBe(d);
    expect(usageError(() => validate(args('-r', join(d, 'missing')), {})).message).toMatch(/no such directory/);
    expect(usageError(() => validate(args('-r', join(d, 'file')), {})).message).toMatch(/not a directory/);
  });

  it("rejects a --rootdir overlayfs cannot take (',' ':' '\\')", () => {
    for (const bad of ['a,b', 'a:b', 'a\\b']) {
      const d = join(base, `${bad}${n++}`);
      mkdirSync(d);
      usageError(() => validate(args('-r', d), {}));
      // --direct binds it: still refused (the check is on the path), but say it clearly
    }
  });

  it('checks --name as a hostname', () => {
    expect(validate(args('--name', 'web-1.example'), {}).name).toBe('web-1.example');
    expect(validate(args('--name', 'a'.repeat(64)), {}).name).toBe('a'.repeat(64));
    for (const bad of ['-x', 'a b', 'a_b', 'a'.repeat(65), 'a/b', 'é']) usageError(() => validate(args('--name', bad), {}));
  });

  it('reads --preserve-fds as 0 to 4', () => {
    expect(validate(args('--preserve-fds', '0'), {}).preserveFds).toBe(0);
    for (const bad of ['5', '-1', 'x', '1.5', '01']) usageError(() => validate(args('--preserve-fds', bad), {}));
  });

  it('checks every --bind and keeps their order', () => {
    const a = dir();
    const b = dir();
    expect(validate(args('-b', a, '-b', `${b}:/x:ro`), {}).binds).toEqual([
      { source: a, target: a, readonly: false },
      { source: b, target: '/x', readonly: true },
    ]);
    usageError(() => validate(args('-b', a, '-b', join(b, 'missing')), {}));
  });

  it('looks --user up in the root directory', () => {
    const r = dir(['etc/passwd', 'dave:x:3000:3001::/:/bin/sh\n'], ['etc/group', 'dgrp:x:3001:\n']);
    expect(validate(args('-r', r, '--user', 'dave'), {}).user).toMatchObject({ uid: 3000, gid: 3001, groups: [] });
    usageError(() => validate(args('-r', r, '--user', 'root'), {}));
  });

  describe('--nocaps', () => {
    const caps = (spec: string) => validate(args('--nocaps', spec), {}).nocaps;

    it('takes names with or without cap_, in any case', () => {
      expect(caps('net_raw')).toEqual(['cap_net_raw']);
      expect(caps('CAP_SYS_ADMIN,Net_Admin')).toEqual(['cap_sys_admin', 'cap_net_admin']);
    });

    it('takes every capability of capabilities(7)', () => {
      expect(caps(CAPABILITIES.join(','))).toEqual(CAPABILITIES);
      expect(CAPABILITIES).toContain('cap_sys_chroot');
      expect(new Set(CAPABILITIES).size).toBe(CAPABILITIES.length);
    });

    it("takes 'all'", () => {
      expect(caps('all')).toEqual(['all']);
    });

    it('ignores empty items', () => {
      expect(caps(',net_raw,')).toEqual(['cap_net_raw']);
    });

    it('rejects an unknown capability, naming it', () => {
      expect(usageError(() => caps('net_raw,bogus')).message).toContain("'bogus'");
      usageError(() => caps('cap_'));
    });

    it('rejects an empty list', () => {
      usageError(() => caps(','));
    });
  });

  describe('-t (reuse a temp dir)', () => {
    it('implies --keep and reuses the saved rootdir, --direct and name', () => {
      const rootdir = dir();
      const t = dir();
      writeSettings(t, { rootdir, direct: true, name: 'saved', keep: true, mincPid: 1, mincStart: 1 });
      const c = validate(args('-t', t), {});
      expect(c).toMatchObject({ tempdir: t, keep: true, rootdir, direct: true, name: 'saved' });
    });

    it('lets options given now win over the saved ones, but not another root directory', () => {
      const saved = dir();
      const now = dir();
      const t = dir();
      writeSettings(t, { rootdir: saved, direct: true, name: 'saved', keep: true, mincPid: 1, mincStart: 1 });
      const c = validate(args('-t', t, '-r', saved, '--name', 'now'), {});
      expect(c).toMatchObject({ rootdir: saved, direct: false, name: 'now' });
      expect(() => validate(args('-t', t, '-r', now), {})).toThrow(`was made with root directory '${saved}', not '${now}'`);
    });

    it('works on a directory without settings', () => {
      const t = dir();
      expect(validate(args('-t', t), {})).toMatchObject({ tempdir: t, keep: true, rootdir: '/', direct: false });
    });

    it('looks --user up in the upper dir first', () => {
      const rootdir = dir(['etc/passwd', 'erin:x:4000:4000::/:/bin/sh\n']);
      const t = dir(['storage/etc/passwd', 'erin:x:4001:4002::/:/bin/sh\n']);
      writeSettings(t, { rootdir, direct: false, keep: true, mincPid: 1, mincStart: 1 });
      expect(validate(args('-t', t, '--user', 'erin'), {}).user).toMatchObject({ uid: 4001, gid: 4002, groups: [] });
    });

    it('rejects a file or a new directory whose parent is missing; takes a new one to make', () => {
      const d = dir(['f', '']);
      expect(usageError(() => validate(args('-t', join(d, 'f')), {})).message).toMatch(/--tempdir.*not a directory/);
      usageError(() => validate(args('-t', join(d, 'nope', 'sub')), {}));
      expect(validate(args('-t', join(d, 'new')), {})).toMatchObject({ tempdir: join(d, 'new'), freshTempdir: true });
    });
  });
});

describe('validate --preserve-fds in a process of its own', () => {
  // node itself holds descriptors 3 and up (epoll, its pipes), all close-on-exec:
  // only one the caller left open (inherited) counts as open for --preserve-fds
  const snippet = `
    import { parseArgs } from './src/options/parse.js';
    import { validate } from './src/options/validate.js';
    try {
      validate(parseArgs(['--dry-run', '--preserve-fds', process.argv[2], 'true']));
      console.log(JSON.stringify({ ok: true }));
    } catch (e) {
      console.log(JSON.stringify({ ok: false, message: e.message }));
    }`;
  let child: Awaited<ReturnType<typeof bundleSnippet>>;
  beforeAll(async () => {
    child = await bundleSnippet(snippet);
  });
  afterAll(() => child.remove());

  it('accepts a descriptor the caller passed', () => {
    const fd = openSync('/dev/null', 'r');
    try {
      const r = runNode(child.file, ['1'], { stdio: ['ignore', 'pipe', 'pipe', fd] });
      expect(r.stderr).toBe('');
      expect(JSON.parse(r.stdout)).toEqual({ ok: true });
    } finally {
      closeSync(fd);
    }
  });

  it('rejects a descriptor the caller did not pass', () => {
    const r = runNode(child.file, ['1'], { stdio: ['ignore', 'pipe', 'pipe'] });
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual({ ok: false, message: '--preserve-fds 1: file descriptor 3 is not open' });
  });
});
