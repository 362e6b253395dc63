/** The pure parts of src/review: exclude globs, the text form's escaping, getfattr's quoting, mount names. */
import { describe, expect, it } from 'vitest';
import { excluder } from '../../../src/review/exclude.js';
import { decodeMountName } from '../../../src/review/sandbox.js';
import { escapePath, parseLine, unescapePath } from '../../../src/review/summary.js';
import { parseDump, quote, unquote } from '../../../src/review/xattr.js';

const b = (s: string): Buffer => Buffer.from(s, 'latin1');

describe('--exclude globs', () => {
  it('* stays within a name, ** crosses /, a pattern without / matches the last name at any depth', () => {
    const ex = excluder(['/var/*/log', '*.pyc', '/home/**/cache']);
    expect(ex(b('/var/a/log'))).toBe(true);
    expect(ex(b('/var/a/b/log'))).toBe(false);
    expect(ex(b('/var/a/log/x'))).toBe(true); // below an excluded path
    expect(ex(b('/x/y/m.pyc'))).toBe(true);
    expect(ex(b('/x/y/m.py'))).toBe(false);
    expect(ex(b('/home/cache'))).toBe(true);
    expect(ex(b('/home/u/p/cache/f'))).toBe(true);
    expect(ex(b('/home/u/p/cached'))).toBe(false);
  });
  it('? and classes match one byte but not /; metacharacters of regexps are plain', () => {
    const ex = excluder(['/a?c', '/[!x]y', '/d.e', '/f+(g)']);
    expect([ex(b('/abc')), ex(b('/a/c')), ex(b('/zy')), ex(b('/xy')), ex(b('/d.e')), ex(b('/dxe')), ex(b('/f+(g)'))]).toEqual([true, false, true, false, true, false, true]);
  });
  it('names that are not UTF-8 match byte for byte', () => {
    expect(excluder([Buffer.from('/x\xff*', 'latin1').toString('latin1')])).toBeTypeOf('function');
    expect(excluder(['*.tmp'])(b('/a/\xff.tmp'))).toBe(true);
  });
});

describe('the text form', () => {
  it('escapes backslash, newline, tab and control bytes, leaves other bytes raw, and reads back exactly', () => {
    const name = b('/a b\\c\nd\te\x01f\xffg');
    const shown = escapePath(name);
    expect(shown.toString('latin1')).toBe('/a b\\\\c\\nd\\te\\x01f\xffg');
    expect(shown.includes(0x0a)).toBe(false);
    expect(unescapePath(shown)).toEqual(name);
    expect(parseLine(Buffer.concat([b('C '), shown]))).toEqual({ status: 'C', path: name });
    expect(parseLine(b('X /a'))).toBeNull();
  });
});

describe("getfattr's dump", () => {
  it('decodes its \\ooo quoting and keeps other bytes', () => {
    const dump = parseDump(b('# file: /u/a\\012b\\134c\xff\nuser.k=0x7631\ntrusted.overlay.opaque=0x79\n\n# file: /u/d\nuser.x=0x00\n\n'));
    expect([...dump.keys()]).toEqual(['/u/a\nb\\c\xff', '/u/d']);
    expect(dump.get('/u/a\nb\\c\xff')?.get('trusted.overlay.opaque')).toBe('0x79');
    expect(unquote(b(quote(b('/x\n\\ y\xff'))))).toEqual(b('/x\n\\ y\xff'));
  });
});

describe('mount names', () => {
  it('percent-decodes, refusing anything else', () => {
    expect(decodeMountName('boot%2Fefi')).toEqual(b('/boot/efi'));
    expect(decodeMountName('var%2Ftmp%2Fx%20y')).toEqual(b('/var/tmp/x y'));
    expect(decodeMountName('a/b')).toBeNull();
    expect(decodeMountName('%zz')).toBeNull();
  });
});
