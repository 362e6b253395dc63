/**
 * A summary in docker diff's form, `A PATH` / `C PATH` / `D PATH` one a line,
 * or as JSON.  Names are bytes: the text form prints them as they are except
 * backslash (`\\`), newline (`\n`), tab (`\t`) and the other control bytes
 * (`\xHH`), so every line is one entry and reads back exactly (parseLine,
 * for --review's edit).  JSON gives `path` (the name when it is UTF-8,
 * else null) and `pathBase64` (the bytes, always).
 */
import type { Change } from './scan.js';

const plain = (path: Buffer): boolean => {
  for (const b of path) if (b < 0x20 || b === 0x5c || b === 0x7f) return false;
  return true;
};

export function escapePath(path: Buffer): Buffer {
  if (plain(path)) return path;
  const out: number[] = [];
  for (const b of path) {
    if (b === 0x5c) out.push(0x5c, 0x5c);
    else if (b === 0x0a) out.push(0x5c, 0x6e);
    else if (b === 0x09) out.push(0x5c, 0x74);
    else if (b < 0x20 || b === 0x7f) out.push(...Buffer.from(`\\x${b.toString(16).padStart(2, '0')}`, 'latin1'));
    else out.push(b);
  }
  return Buffer.from(out);
}

export function unescapePath(text: Buffer): Buffer {
  const out: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const b = text[i]!;
    if (b !== 0x5c) {
      out.push(b);
      continue;
    }
    const c = text[++i];
    if (c === 0x5c) out.push(0x5c);
    else if (c === 0x6e) out.push(0x0a);
    else if (c === 0x74) out.push(0x09);
    else if (c === 0x78 && /^[0-9a-f]{2}$/.test(text.subarray(i + 1, i + 3).toString('latin1'))) {
      out.push(parseInt(text.subarray(i + 1, i + 3).toString('latin1'), 16));
      i += 2;
    } else out.push(0x5c, ...(c === undefined ? [] : [c]));
  }
  return Buffer.from(out);
}

export function textSummary(changes: readonly Change[]): Buffer {
  const parts: Buffer[] = [];
  for (const c of changes) parts.push(Buffer.from(`${c.status} `), escapePath(c.path), Buffer.from('\n'));
  return Buffer.concat(parts);
}

/** A line of the text form back to (status, path); null for a line that is not one. */
export function parseLine(line: Buffer): { status: string; path: Buffer } | null {
  const m = /^([ACD]) \//.exec(line.subarray(0, 3).toString('latin1'));
  if (!m) return null;
  return { status: m[1]!, path: unescapePath(line.subarray(2)) };
}

const utf8 = (b: Buffer): string | null => {
  const s = b.toString('utf8');
  return Buffer.from(s).equals(b) ? s : null;
};

export function jsonSummary(changes: readonly Change[]): string {
  const entries = changes.map((c) => ({
    status: c.status,
    path: utf8(c.path),
    pathBase64: c.path.toString('base64'),
    kind: c.kind,
    changes: c.what,
    ...(c.kind === 'dir' && c.status !== 'D' ? { opaque: c.opaque } : {}),
  }));
  return `${JSON.stringify(entries, null, 1)}\n`;
}
