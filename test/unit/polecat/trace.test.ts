import { describe, expect, it } from 'vitest';
import { listedLibraries, shQuote, tracedPaths, unhex } from '../../../src/polecat/trace.js';

const hex = (s: string | Buffer): string => [...Buffer.from(s)].map((b) => `\\x${b.toString(16).padStart(2, '0')}`).join('');

describe('strace -f -xx -y log', () => {
  it('takes each call\'s first path, joined to its directory descriptor, and the paths of returned descriptors', () => {
    const log = [
      `12 execve("${hex('/usr/bin/python3')}", ["${hex('python3')}"], 0x7ffd /* 3 vars */) = 0`,
      `12 openat(AT_FDCWD<${hex('/')}>, "${hex('/etc/ld.so.cache')}", O_RDONLY|O_CLOEXEC) = 3<${hex('/etc/ld.so.cache')}>`,
      `12 openat(3<${hex('/usr/lib/python3.11')}>, "${hex('os.py')}", O_RDONLY) = 4<${hex('/usr/lib/python3.11/os.py')}>`,
      `12 newfstatat(4<${hex('/usr/lib/x')}>, "", {st_mode=S_IFREG|0644, ...}, AT_EMPTY_PATH) = 0`,
      `13 readlink("${hex('/proc/self/exe')}", "${hex('/usr/bin/python3.11')}", 4096) = 19`,
      `13 stat("${hex('rel/file')}", 0x7ff) = -1 ENOENT (No such file or directory)`,
      '13 <... openat resumed>) = 5',
      '13 +++ exited with 0 +++',
    ].join('\n');
    const got = tracedPaths(log).map((b) => b.toString());
    expect(got).toEqual(['/usr/bin/python3', '/etc/ld.so.cache', '/usr/lib/python3.11/os.py', '/usr/lib/x', '/proc/self/exe', '/rel/file']);
  });

  it('keeps names as bytes (not UTF-8)', () => {
    const name = Buffer.from([0x2f, 0x74, 0xff, 0xfe]);
    const [p] = tracedPaths(`1 open("${hex(name)}", O_RDONLY) = -1 ENOENT (x)`);
    expect(p!.equals(name)).toBe(true);
    expect(unhex(hex('abc')).toString()).toBe('abc');
  });
});

describe('ld.so --list output', () => {
  it('takes the resolved paths and the loader, not the vDSO or what is not found', () => {
    const out = Buffer.from([
      '\tlinux-vdso.so.1 (0x00007ffc)',
      '\tlibm.so.6 => /lib/x86_64-linux-gnu/libm.so.6 (0x00007f1)',
      '\tlibgone.so.2 => not found',
      '\t/lib64/ld-linux-x86-64.so.2 (0x00007f3)',
    ].join('\n'));
    expect(listedLibraries(out).map(String)).toEqual(['/lib/x86_64-linux-gnu/libm.so.6', '/lib64/ld-linux-x86-64.so.2']);
  });
});

describe('shQuote', () => {
  it('quotes what sh would split or expand, keeps bytes', () => {
    expect(shQuote('ps').toString()).toBe('ps');
    expect(shQuote("print('x y')").toString()).toBe(`'print('\\''x y'\\'')'`);
    expect(shQuote('$HOME').toString()).toBe("'$HOME'");
    expect(shQuote('').toString()).toBe("''");
    expect(shQuote(Buffer.from([0xff])).equals(Buffer.from([0x27, 0xff, 0x27]))).toBe(true);
  });
});
