import { describe, expect, it } from 'vitest';
import { bundleCommand } from '../../../src/marten/formats/bundle.js';

describe('a polecat bundle\'s .polecat.json (marten import)', () => {
  it('gives the command as Cmd', () => {
    expect(bundleCommand(Buffer.from('{"command":["ps","-o","pid"]}'))).toEqual(['ps', '-o', 'pid']);
    expect(bundleCommand(Buffer.from('{"command":[]}'))).toBeUndefined();
    expect(bundleCommand(null)).toBeUndefined();
  });

  it('refuses a command of another shape', () => {
    expect(() => bundleCommand(Buffer.from('{"command":"rm -rf /"}'))).toThrow(/expected an array of strings/);
    expect(() => bundleCommand(Buffer.from('{"command":[1]}'))).toThrow(/expected an array of strings/);
    expect(() => bundleCommand(Buffer.from('{"command":["a\\u0000b"]}'))).toThrow(/expected an array of strings/);
    expect(() => bundleCommand(Buffer.from('{'))).toThrow(/not JSON/);
  });
});
