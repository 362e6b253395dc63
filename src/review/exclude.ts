/**
 * --exclude PATTERN: a shell glob on the container path.  `*` and `?` do not
 * cross '/', `**` does, `[...]` is a byte class (`[!...]` negated).  A
 * pattern with a '/' matches the whole path from the root ('/var/cache/**');
 * one without matches the last name at any depth ('*.pyc').  An entry is
 * left out when it or any of its parents matches.  Paths are bytes: they
 * are matched as latin1 text, one char a byte.
 */
import { UsageError } from '../errors.js';

function toRegex(pattern: string): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*') {
      if (pattern[i + 1] === '*') {
        // '/**/' also matches '/'
        if (pattern[i + 2] === '/') {
          re += '(?:.*/)?';
          i += 2;
        } else {
          re += '.*';
          i += 1;
        }
      } else re += '[^/]*';
    } else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const end = pattern.indexOf(']', i + 2);
      if (end < 0) throw new UsageError(`--exclude '${pattern}': '[' without ']'`);
      let body = pattern.slice(i + 1, end);
      const neg = body.startsWith('!') || body.startsWith('^');
      if (neg) body = body.slice(1);
      re += `[${neg ? '^' : ''}${body.replace(/[\\\]^]/g, (x) => `\\${x}`)}]`;
      i = end;
    } else if (c === '\\' && i + 1 < pattern.length) re += pattern[++i]!.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    else re += c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  }
  return new RegExp(`^${re}$`, 's');
}

export type Matcher = (path: Buffer) => boolean;

export function excluder(patterns: readonly string[]): Matcher {
  if (patterns.length === 0) return () => false;
  const res = patterns.map((p) => {
    if (!p) throw new UsageError('--exclude: an empty pattern');
    const latin = Buffer.from(p).toString('latin1');
    return { anchored: latin.includes('/'), re: toRegex(latin.replace(/\/+$/, '')) };
  });
  return (path) => {
    const s = path.toString('latin1');
    for (let end = s.length; end > 0; end = s.lastIndexOf('/', end - 1)) {
      const p = s.slice(0, end);
      const base = p.slice(p.lastIndexOf('/') + 1);
      if (res.some((r) => r.re.test(r.anchored ? p : base))) return true;
    }
    return false;
  };
}
