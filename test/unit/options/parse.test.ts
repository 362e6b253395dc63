import { describe, expect, it } from 'vitest';
import { UsageError } from '../../../src/errors.js';
import { parseArgs } from '../../../src/options/parse.js';
import { OPTIONS } from '../../../src/options/spec.js';

const camel = (name: string): string => name.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());

describe('parseArgs', () => {
  it('gives every flag false, no binds and no command by default', () => {
    const a = parseArgs([]) as unknown as Record<string, unknown>;
    for (const o of OPTIONS) {
      if (o.repeatable) expect(a[camel(o.name)], o.name).toEqual([]);
      else if (o.value) expect(a[camel(o.name)], o.name).toBeUndefined();
      else expect(a[camel(o.name)], o.name).toBe(false);
    }
    expect(a.bind).toEqual([]);
    expect(a.command).toEqual([]);
  });

  // every option of the table, by its long name, its alias and (for valued ones) --name=value
  for (const o of OPTIONS) {
    const field = camel(o.name);
    const forms = [`--${o.name}`, ...(o.alias ? [o.alias.length > 1 ? `--${o.alias}` : `-${o.alias}`] : [])];
    // an optional value (`--net [MODE]`): the next word is its value only if it matches valueIf
    const valueIf = (o as { valueIf?: RegExp }).valueIf;
    if (valueIf) {
      for (const form of forms) {
        it(`reads ${form} with no value: a next word that is not one is the command`, () => {
          expect(valueIf.test('true')).toBe(false);
          const a = parseArgs([form, 'true']) as unknown as Record<string, unknown>;
          expect(a[field]).toBe('');
          expect(a.command).toEqual(['true']);
        });
      }
      it(`reads --${o.name}=VALUE`, () => {
        expect((parseArgs([`--${o.name}=a=b`]) as unknown as Record<string, unknown>)[field]).toBe('a=b');
      });
      continue;
    }
    for (const form of forms) {
      it(`reads ${form}`, () => {
        const argv = o.value ? [form, 'VAL', 'cmd'] : [form, 'cmd'];
        const a = parseArgs(argv) as unknown as Record<string, unknown>;
        const expected = o.value ? (o.repeatable ? ['VAL'] : 'VAL') : true;
        expect(a[field]).toEqual(expected);
        expect(a.command).toEqual(['cmd']);
      });
    }
    if (o.value) {
      it(`reads --${o.name}=VALUE (a value may contain '=')`, () => {
        const a = parseArgs([`--${o.name}=a=b`]) as unknown as Record<string, unknown>;
        expect(a[field]).toEqual(o.repeatable ? ['a=b'] : 'a=b');
      });
      it(`rejects --${o.name} without a value`, () => {
        expect(() => parseArgs([`--${o.name}`])).toThrow(UsageError);
        expect(() => parseArgs([`--${o.name}=`])).toThrow(/needs a value/);
      });
    } else {
      it(`rejects --${o.name}=VALUE on a flag`, () => {
        expect(() => parseArgs([`--${o.name}=1`])).toThrow(/takes no value/);
      });
    }
  }

  it('keeps every --bind, in order', () => {
    const a = parseArgs(['-b', '/a', '--bind', '/b:/c', '--bind=/d:ro', 'true']);
    expect(a.bind).toEqual(['/a', '/b:/c', '/d:ro']);
  });

  it('lets the last of a repeated single-valued option win', () => {
    expect(parseArgs(['--name', 'one', '--name', 'two']).name).toBe('two');
  });

  it('takes a value that looks like an option as the value', () => {
    expect(parseArgs(['--name', '--debug']).name).toBe('--debug');
    expect(parseArgs(['--name', '--debug']).debug).toBe(false);
  });

  it('stops at the first word that is not an option: the rest belongs to the command', () => {
    const a = parseArgs(['-k', 'ls', '-l', '--debug', '--', '-h']);
    expect(a.keep).toBe(true);
    expect(a.debug).toBe(false);
    expect(a.help).toBe(false);
    expect(a.command).toEqual(['ls', '-l', '--debug', '--', '-h']);
  });

  it('stops at -- and drops it', () => {
    const a = parseArgs(['--debug', '--', '--help', 'x']);
    expect(a.debug).toBe(true);
    expect(a.help).toBe(false);
    expect(a.command).toEqual(['--help', 'x']);
  });

  it('keeps a second -- for the command', () => {
    expect(parseArgs(['--', '--', 'x']).command).toEqual(['--', 'x']);
  });

  it("takes a lone '-' as the command", () => {
    expect(parseArgs(['-', 'x']).command).toEqual(['-', 'x']);
  });

  it('gives an empty command for options only', () => {
    expect(parseArgs(['-D', '--usedev']).command).toEqual([]);
  });

  it('rejects an unknown option with a UsageError (status 2) naming it', () => {
    let err: unknown;
    try {
      parseArgs(['--bogus', 'true']);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UsageError);
    expect((err as UsageError).status).toBe(2);
    expect((err as UsageError).message).toContain("'--bogus'");
    expect(() => parseArgs(['-x'])).toThrow(/unknown option '-x'/);
    expect(() => parseArgs(['--bogus=1'])).toThrow(/unknown option '--bogus'/);
  });

  it('does not split bundled short flags (not MINCS syntax)', () => {
    expect(() => parseArgs(['-kD'])).toThrow(UsageError);
  });

  it('does not read an option that follows the command', () => {
    expect(() => parseArgs(['true', '--bogus'])).not.toThrow();
  });
});
