/**
 * The paths the command line names in the container: --bind's HOSTPATH[:PATH][:ro]
 * and --hide's PATH (the hostopts' -X binds are made with parseBind too, so
 * this module stands below both validate.ts and hostopts.ts).
 */
import { realpathSync, statSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import { UsageError } from '../errors.js';

export interface Bind {
  readonly source: string;
  readonly target: string;
  readonly readonly: boolean;
}

export function statOrNull(path: string) {
  try {
    return statSync(path);
  } catch {
    return null;
  }
}

export function parseBind(spec: string): Bind {
  let parts = spec.split(':');
  let ro = false;
  if (parts.length > 1 && (parts.at(-1) === 'ro' || parts.at(-1) === 'rw')) {
    ro = parts.at(-1) === 'ro';
    parts = parts.slice(0, -1);
  }
  if (parts.length > 2 || !parts[0]) throw new UsageError(`--bind '${spec}': expected HOSTPATH[:PATH][:ro]`);
  const [host, target] = parts as [string, string | undefined];
  if (!statOrNull(host)) throw new UsageError(`--bind '${spec}': bind source '${host}' does not exist`);
  const source = realpathSync(host);
  if (target !== undefined && !isAbsolute(target)) {
    throw new UsageError(`--bind '${spec}': bind target '${target}' must be an absolute path`);
  }
  const clean = (target ?? source).replace(/\/+/g, '/').replace(/(.)\/$/, '$1');
  if (clean === '/' || clean.split('/').includes('..')) {
    throw new UsageError(`--bind '${spec}': bind target '${target ?? source}' cannot be / or contain '..'`);
  }
  return { source, target: clean, readonly: ro };
}

/** --hide PATH: absolute, no '..', no newline; / cannot be hidden. */
export function parseHide(spec: string): string {
  const clean = spec.replace(/\/+/g, '/').replace(/(.)\/$/, '$1');
  if (!clean.startsWith('/') || clean === '/' || clean.split('/').includes('..') || /\n/.test(clean)) {
    throw new UsageError(`--hide '${spec}': expected an absolute path other than /, without '..' or a newline`);
  }
  return clean;
}

