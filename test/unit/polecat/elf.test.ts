import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseElf } from '../../../src/polecat/elf.js';

describe('parseElf', () => {
  it('reads the interpreter of a dynamic executable (this node)', () => {
    const info = parseElf(readFileSync(process.execPath).subarray(0, 65536));
    expect(info?.dynamic).toBe(true);
    expect(info?.interp?.toString()).toMatch(/^\/.*ld[-.].*so/);
  });

  it('says a static binary has no interpreter (busybox-static), and a text file is no ELF', () => {
    let busybox: Buffer | null = null;
    try {
      busybox = readFileSync('/bin/busybox').subarray(0, 65536);
    } catch {
      /* not installed: the synthetic case below still runs */
    }
    if (busybox) expect(parseElf(busybox)?.interp).toBeUndefined();
    expect(parseElf(Buffer.from('#!/bin/sh\necho hi\n'.padEnd(80)))).toBeNull();
  });

  it('is not fooled by offsets past what was read (a hostile header)', () => {
    const h = Buffer.alloc(64);
    h.writeUInt32BE(0x7f454c46, 0);
    h[4] = 2;
    h[5] = 1;
    h.writeBigUInt64LE(0xffffffffn, 32); // phoff far away
    h.writeUInt16LE(56, 54);
    h.writeUInt16LE(1000, 56);
    expect(parseElf(h)).toEqual({ dynamic: false });
    // a PT_INTERP whose string runs past the buffer is ignored
    const g = Buffer.alloc(64 + 56);
    h.copy(g);
    g.writeBigUInt64LE(64n, 32);
    g.writeUInt16LE(1, 56);
    g.writeUInt32LE(3, 64);
    g.writeBigUInt64LE(100000n, 64 + 8);
    g.writeBigUInt64LE(20n, 64 + 32);
    expect(parseElf(g)).toEqual({ dynamic: false });
  });
});
