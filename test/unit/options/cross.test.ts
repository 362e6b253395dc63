import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { UsageError } from '../../../src/errors.js';
import { ARCHES, foreignImage, kernelHasUsernsBinfmt, MACHINE, parseBinfmts, registerLine, validateCross } from '../../../src/options/cross.js';

const AARCH64 = `package qemu-user-static
interpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P
magic \\x7f\\x45\\x4c\\x46\\x02\\x01\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\x00\\xb7\\x00
offset 0
mask \\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xfe\\xff\\xff\\xff
credentials no
fix_binary yes
preserve yes
`;

const dir = mkdtempSync(join(tmpdir(), 'minc-unit-cross-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const dirs = { binfmts: join(dir, 'binfmts'), bin: join(dir, 'bin'), hostBinfmt: join(dir, 'host') };
for (const d of Object.values(dirs)) mkdirSync(d);

describe('arch names', () => {
  it("MINCS's names and their aliases map to one qemu architecture each, each with its uname -m", () => {
    const groups = [['amd64', 'x86_64'], ['arm', 'armv7l', 'armel'], ['arm64', 'aarch64'], ['ppc64', 'ppc64le', 'ppc64el'], ['riscv64'], ['s390x']];
    for (const g of groups) expect(new Set(g.map((n) => ARCHES[n])).size, g.join()).toBe(1);
    for (const q of Object.values(ARCHES)) expect(MACHINE[q], q).toBeDefined();
  });

  it('an unknown name is a UsageError listing the known ones', () => {
    expect(() => validateCross('vax', dirs)).toThrow(UsageError);
    expect(() => validateCross('vax', dirs)).toThrow(/unknown architecture \(known: amd64, x86_64, arm, .*s390x\)/);
  });

  it("the host's own architecture needs no interpreter", () => {
    expect(validateCross(process.arch === 'x64' ? 'amd64' : 'arm64', dirs)).toBeNull();
  });
});

describe('binfmts', () => {
  it("parses Debian's /usr/share/binfmts format; F always, P where the package preserves argv[0]", () => {
    const b = parseBinfmts(AARCH64)!;
    expect(b).toEqual({ offset: 0, magic: expect.stringMatching(/^\\x7f\\x45/), mask: expect.stringMatching(/^\\xff/), preserve: true });
    expect(registerLine('aarch64', b, '/usr/bin/qemu-aarch64-static')).toBe(`:minc-qemu-aarch64:M:0:${b.magic}:${b.mask}:/usr/bin/qemu-aarch64-static:FP`);
    expect(registerLine('aarch64', { ...b, preserve: false }, '/q')).toMatch(/:\/q:F$/);
  });

  it('refuses a magic that is not \\x escapes (a colon would split the register line)', () => {
    expect(parseBinfmts(AARCH64.replace(/^magic .*$/m, 'magic ab:cd'))).toBeNull();
    expect(parseBinfmts('offset 0\n')).toBeNull();
    expect(parseBinfmts(AARCH64.replace('offset 0', 'offset -1'))).toBeNull();
  });

  it('kernel versions: 6.7 and later have binfmt_misc per user namespace', () => {
    expect(kernelHasUsernsBinfmt('6.6.30')).toBe(false);
    expect(kernelHasUsernsBinfmt('6.7.0')).toBe(true);
    expect(kernelHasUsernsBinfmt('6.18.44-fc')).toBe(true);
    expect(kernelHasUsernsBinfmt('5.19.0')).toBe(false);
  });
});

describe('validateCross (this kernel is 6.7+)', () => {
  it('a missing interpreter names the package', () => {
    expect(() => validateCross('riscv64', dirs)).toThrow(/qemu-riscv64-static is missing \(apt-get install qemu-user-static\)/);
  });

  it('the register line from the package file', () => {
    writeFileSync(join(dirs.bin, 'qemu-aarch64-static'), '');
    writeFileSync(join(dirs.binfmts, 'qemu-aarch64'), AARCH64);
    const c = validateCross('aarch64', dirs)!;
    expect(c).toMatchObject({ arch: 'aarch64', qemu: 'aarch64', interpreter: `${dirs.bin}/qemu-aarch64-static` });
    expect(c.register).toMatch(new RegExp(`^:minc-qemu-aarch64:M:0:\\\\x7f.*:${dirs.bin}/qemu-aarch64-static:FP$`));
  });
});

describe('foreignImage', () => {
  const host = process.arch === 'x64' ? 'amd64' : 'arm64';
  const other = host === 'amd64' ? 'arm64' : 'amd64';
  it("an image of the host's architecture, or of an unknown one, passes", () => {
    expect(() => foreignImage(host)).not.toThrow();
    expect(() => foreignImage(undefined)).not.toThrow();
    expect(() => foreignImage('mips64le')).not.toThrow();
  });
  it('a foreign image says so and names --cross; a --cross of another architecture names the right one', () => {
    expect(() => foreignImage(other)).toThrow(new RegExp(`the image is ${other}, this host is ${host}: run it with --cross ${other}`));
    expect(() => foreignImage(other, other)).not.toThrow();
    expect(() => foreignImage('arm64', 'riscv64')).toThrow(/--cross riscv64: the image is arm64: use --cross arm64/);
  });
});
