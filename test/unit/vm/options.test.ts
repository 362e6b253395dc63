/** --qemu's option lists against minc's whole option table: a new option must say how it stands in a guest. */
import { describe, expect, it } from 'vitest';
import { OPTIONS } from '../../../src/options/spec.js';
import { parseArgs } from '../../../src/options/parse.js';
import { KEPT, MODES, NO_SENSE_OPTIONS, validateVm } from '../../../src/vm/options.js';
import { UsageError } from '../../../src/errors.js';

const valueFor: Record<string, string> = { nocaps: 'cap_sys_admin', user: '1000', 'preserve-fds': '1', hide: '/x', ftrace: 'true', cross: 'arm64' };

describe('--qemu options', () => {
  it('puts every option of minc --help in one list: kept, a mode of its own, or no sense in a guest', () => {
    const all = [...KEPT, ...MODES, ...NO_SENSE_OPTIONS];
    expect(new Set(all).size).toBe(all.length);
    expect(OPTIONS.map((o) => o.name).sort()).toEqual([...all].sort());
  });

  it('refuses each option that makes no sense in a guest with one line naming it', () => {
    for (const name of NO_SENSE_OPTIONS) {
      const o = OPTIONS.find((x) => x.name === name)!;
      const argv = ['--qemu', '--qemu-tcg', `--${name}`, ...(o.value ? [valueFor[name] ?? '1'] : []), 'true'];
      let err: unknown;
      try {
        validateVm(parseArgs(argv) as Parameters<typeof validateVm>[0], {});
      } catch (e) {
        err = e;
      }
      expect(err, name).toBeInstanceOf(UsageError);
      expect((err as Error).message, name).toMatch(new RegExp(`^--${name} makes no sense with --qemu: [^\\n]+$`));
    }
  });

  it('refuses a --net MODE other than the user-mode one, and a bind with a newline', () => {
    expect(() => validateVm(parseArgs(['--qemu', '--qemu-tcg', '--net', 'raw', 'true']) as Parameters<typeof validateVm>[0], {}))
      .toThrow(/^--net raw makes no sense with --qemu/);
    expect(() => validateVm(parseArgs(['--qemu', '--qemu-tcg', '-b', '/tmp/a\nb:/x', 'true']) as Parameters<typeof validateVm>[0], {}))
      .toThrow(/a newline cannot cross into the guest/);
  });
});
