/**
 * The shapes registry JSON must have (OCI image spec and Docker's schema 2:
 * manifest, index / manifest list, image config, token reply), checked
 * before any field is used, so a lying registry gets one line naming the
 * field (`manifest t: layers[2].digest: expected a sha256 digest`) instead
 * of a JavaScript error from deep inside.  Fields marten does not use are
 * left as they are.
 */
import { MincError } from '../../errors.js';
import type { Descriptor, ImageConfig, Index, Manifest, Platform } from '../oci.js';

type Obj = Record<string, unknown>;

export const DIGEST_RE = /^sha256:[0-9a-f]{64}$/;

/** A checker of one document, `what` naming it in errors ("manifest t", "config sha256:..."). */
class Check {
  constructor(private readonly what: string) {}

  fail(path: string, expected: string): never {
    throw new MincError(`${this.what}: ${path ? `${path}: ` : ''}expected ${expected}`);
  }
  obj(v: unknown, path: string): Obj {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) this.fail(path, 'an object');
    return v as Obj;
  }
  arr(v: unknown, path: string): unknown[] {
    if (!Array.isArray(v)) this.fail(path, 'an array');
    return v;
  }
  str(v: unknown, path: string): string {
    if (typeof v !== 'string') this.fail(path, 'a string');
    return v;
  }
  optStr(v: unknown, path: string): void {
    if (v !== undefined) this.str(v, path);
  }
  /** absent, null, or an array of strings (Env, Cmd, Entrypoint) */
  optStrings(v: unknown, path: string): void {
    if (v === undefined || v === null) return;
    this.arr(v, path).forEach((s, i) => this.str(s, `${path}[${i}]`));
  }
  size(v: unknown, path: string): number {
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) this.fail(path, 'a size (a whole number of bytes)');
    return v;
  }
  digest(v: unknown, path: string): string {
    if (typeof v !== 'string' || !DIGEST_RE.test(v)) this.fail(path, 'a sha256 digest');
    return v;
  }
  schema2(o: Obj): void {
    if (o.schemaVersion === 1) throw new MincError(`${this.what}: schema 1 manifests are not supported (push the image again with a current client)`);
    if (o.schemaVersion !== 2) this.fail('schemaVersion', '2');
    this.optStr(o.mediaType, 'mediaType');
  }
  platform(v: unknown, path: string): Platform {
    const o = this.obj(v, path);
    this.str(o.os, `${path}.os`);
    this.str(o.architecture, `${path}.architecture`);
    this.optStr(o.variant, `${path}.variant`);
    return o as unknown as Platform;
  }
  descriptor(v: unknown, path: string): Descriptor {
    const o = this.obj(v, path);
    this.str(o.mediaType, `${path}.mediaType`);
    this.digest(o.digest, `${path}.digest`);
    this.size(o.size, `${path}.size`);
    if (o.platform !== undefined) this.platform(o.platform, `${path}.platform`);
    if (o.annotations !== undefined) this.obj(o.annotations, `${path}.annotations`);
    return o as unknown as Descriptor;
  }
}

/** An image manifest (OCI or Docker schema 2). */
export function checkManifest(v: unknown, what: string): Manifest {
  const c = new Check(what);
  const o = c.obj(v, '');
  c.schema2(o);
  c.descriptor(o.config, 'config');
  c.arr(o.layers, 'layers').forEach((l, i) => c.descriptor(l, `layers[${i}]`));
  return o as unknown as Manifest;
}

/** An index (OCI) or manifest list (Docker). */
export function checkIndex(v: unknown, what: string): Index {
  const c = new Check(what);
  const o = c.obj(v, '');
  c.schema2(o);
  c.arr(o.manifests, 'manifests').forEach((m, i) => c.descriptor(m, `manifests[${i}]`));
  return o as unknown as Index;
}

/** An image config: the parts marten and minc use (rootfs.diff_ids, platform, the run settings). */
export function checkConfig(v: unknown, what: string): ImageConfig {
  const c = new Check(what);
  const o = c.obj(v, '');
  for (const k of ['architecture', 'os', 'variant', 'created'] as const) c.optStr(o[k], k);
  if (o.config !== undefined && o.config !== null) {
    const r = c.obj(o.config, 'config');
    for (const k of ['Env', 'Cmd', 'Entrypoint'] as const) c.optStrings(r[k], `config.${k}`);
    for (const k of ['WorkingDir', 'User'] as const) c.optStr(r[k], `config.${k}`);
  }
  const rootfs = c.obj(o.rootfs, 'rootfs');
  c.optStr(rootfs.type, 'rootfs.type');
  c.arr(rootfs.diff_ids, 'rootfs.diff_ids').forEach((d, i) => c.digest(d, `rootfs.diff_ids[${i}]`));
  if (o.history !== undefined) c.arr(o.history, 'history');
  return o as ImageConfig;
}

/** A token server's reply: `token` (or OAuth2's `access_token`), a non-empty string. */
export function checkToken(v: unknown, what: string): string {
  const c = new Check(what);
  const o = c.obj(v, '');
  const t = o.token ?? o.access_token;
  if (typeof t !== 'string' || t === '' || /[\0-\x20\x7f-\uffff]/.test(t)) c.fail(o.token !== undefined || o.access_token === undefined ? 'token' : 'access_token', 'a non-empty string of printable ASCII');
  return t as string;
}

/** A registry's string fit for an error line: control characters (newlines, escapes) as `?`, at most max long. */
export const printable = (s: string, max = 200): string => s.slice(0, max).replace(/[\0-\x1f\x7f]/g, '?');

/** Registry JSON from bytes: UTF-8 (no lossy decoding) and JSON, else one line (without the hostile bytes). */
export function parseJson(bytes: Buffer, what: string): unknown {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new MincError(`${what}: not UTF-8 text`);
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new MincError(`${what}: not valid JSON`);
  }
}
