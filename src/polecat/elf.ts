/**
 * The little of ELF the trapper needs: is a file ELF, is it dynamically
 * linked (PT_DYNAMIC), and its interpreter (PT_INTERP).  MINCS hard-codes
 * /lib64/ld-linux-x86-64.so.2; each file names its own.  The header is a
 * root's file: every offset is checked against what was read.
 */
export interface ElfInfo {
  /** PT_INTERP, as bytes (a path inside the root) */
  interp?: Buffer;
  /** has a PT_DYNAMIC segment (NEEDED libraries to resolve) */
  dynamic: boolean;
}

const PT_DYNAMIC = 2;
const PT_INTERP = 3;

/** Parse head (the first bytes of a file: 64 KiB is plenty); null if it is not an ELF file this can read. */
export function parseElf(head: Buffer): ElfInfo | null {
  if (head.length < 52 || head.readUInt32BE(0) !== 0x7f454c46) return null;
  const is64 = head[4] === 2;
  const le = head[5] === 1;
  if ((head[4] !== 1 && !is64) || (head[5] !== 1 && head[5] !== 2)) return null;
  const u16 = (o: number): number => (le ? head.readUInt16LE(o) : head.readUInt16BE(o));
  const u32 = (o: number): number => (le ? head.readUInt32LE(o) : head.readUInt32BE(o));
  const addr = (o: number): number => {
    if (!is64) return u32(o);
    const v = le ? head.readBigUInt64LE(o) : head.readBigUInt64BE(o);
    return v > BigInt(Number.MAX_SAFE_INTEGER) ? -1 : Number(v);
  };
  if (is64 && head.length < 64) return null;
  const phoff = addr(is64 ? 32 : 28);
  const phentsize = u16(is64 ? 54 : 42);
  const phnum = u16(is64 ? 56 : 44);
  const info: ElfInfo = { dynamic: false };
  if (phoff < 0 || phentsize < (is64 ? 56 : 32)) return info;
  for (let i = 0; i < phnum; i++) {
    const p = phoff + i * phentsize;
    if (p + phentsize > head.length) break;
    const type = u32(p);
    if (type === PT_DYNAMIC) info.dynamic = true;
    if (type === PT_INTERP) {
      const off = addr(is64 ? p + 8 : p + 4);
      const size = is64 ? addr(p + 32) : u32(p + 16);
      if (off < 0 || size <= 1 || size > 4096 || off + size > head.length) continue;
      const s = head.subarray(off, off + size);
      const nul = s.indexOf(0);
      const path = nul >= 0 ? s.subarray(0, nul) : s;
      if (path.length > 0 && path[0] === 0x2f) info.interp = Buffer.from(path);
    }
  }
  return info;
}
