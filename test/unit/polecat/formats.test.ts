import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { PAGE, renderLauncher } from '../../../src/polecat/formats.js';
import { kindOf, parseMeta } from '../../../src/polecat/inspect.js';

const template = readFileSync(new URL('../../../libexec/polecat-launcher', import.meta.url), 'utf8');

describe('the sh launcher', () => {
  it('is padded to the page-aligned offset it names, with the command quoted', () => {
    const out = renderLauncher(template, ['python3', '-c', "print('hi')"]);
    expect(out.length % PAGE).toBe(0);
    const text = out.toString();
    expect(text).toContain(`pc_off=${out.length} `);
    expect(text).toContain(`set -- python3 -c 'print('\\''hi'\\'')' "$@"`);
    expect(kindOf(out)).toEqual({ format: 'sh', offset: out.length });
  });

  it('grows by pages for a long command', () => {
    const out = renderLauncher(template, ['x'.repeat(3 * PAGE)]);
    expect(out.length % PAGE).toBe(0);
    expect(out.length).toBeGreaterThan(3 * PAGE);
    expect(kindOf(out)).toEqual({ format: 'sh', offset: out.length });
  });
});

describe('--inspect', () => {
  it('tells the formats by their first bytes', () => {
    expect(kindOf(Buffer.from('hsqs....'))).toEqual({ format: 'squashfs' });
    expect(kindOf(Buffer.from([0x1f, 0x8b, 8, 0]))).toEqual({ format: 'tgz' });
    expect(kindOf(Buffer.from('#!/bin/sh\necho not a bundle\n'))).toBeNull();
  });

  it('checks the shape of .polecat.json', () => {
    expect(parseMeta('{"command":["ps"],"source":{"rootdir":"/r"},"date":"d"}')).toEqual({ command: ['ps'], source: { rootdir: '/r' }, date: 'd' });
    expect(() => parseMeta('{"command":"ps"}')).toThrow(/command: expected an array of strings/);
    expect(() => parseMeta('nope')).toThrow(/not JSON/);
  });
});
