/**
 * Checking the shape of JSON read from an archive (manifest.json,
 * repositories, index.json, manifests, configs): a wrong shape is a
 * MincError naming the document and the field, never a JavaScript
 * TypeError from code that trusted it.
 */
import { MincError } from '../../errors.js';
import type { Descriptor, ImageConfig } from '../oci.js';

/** JSON documents an archive may hold are bounded (skopeo's limit). */
export const MAX_JSON = 4 << 20;

const wrong = (doc: string, field: string, want: string): MincError => new MincError(`${doc}: ${field || 'the document'} must be ${want}`);

export const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export function object(v: unknown, doc: string, field: string): Record<string, unknown> {
  if (!isObject(v)) throw wrong(doc, field, 'an object');
  return v;
}

export function array(v: unknown, doc: string, field: string): unknown[] {
  if (!Array.isArray(v)) throw wrong(doc, field, 'an array');
  return v;
}

export function string(v: unknown, doc: string, field: string): string {
  if (typeof v !== 'string' || v === '') throw wrong(doc, field, 'a non-empty string');
  return v;
}

export const optString = (v: unknown, doc: string, field: string): string | undefined => (v === undefined || v === null ? undefined : string(v, doc, field));

export function strings(v: unknown, doc: string, field: string): string[] {
  return array(v, doc, field).map((s, i) => {
    if (typeof s !== 'string') throw wrong(doc, `${field}[${i}]`, 'a string');
    return s;
  });
}

export function digest(v: unknown, doc: string, field: string): string {
  if (typeof v !== 'string' || !/^sha256:[0-9a-f]{64}$/.test(v)) throw wrong(doc, field, 'a sha256 digest (sha256:<64 hex>)');
  return v;
}

export function descriptor(v: unknown, doc: string, field: string): Descriptor {
  const o = object(v, doc, field);
  const size = o.size;
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) throw wrong(doc, `${field}.size`, 'a whole number');
  const d: Descriptor = { mediaType: optString(o.mediaType, doc, `${field}.mediaType`) ?? '', digest: digest(o.digest, doc, `${field}.digest`), size };
  if (o.platform !== undefined) {
    const p = object(o.platform, doc, `${field}.platform`);
    d.platform = { os: string(p.os, doc, `${field}.platform.os`), architecture: string(p.architecture, doc, `${field}.platform.architecture`),
      ...(p.variant !== undefined ? { variant: string(p.variant, doc, `${field}.platform.variant`) } : {}) };
  }
  if (o.annotations !== undefined) {
    const a = object(o.annotations, doc, `${field}.annotations`);
    for (const [k, val] of Object.entries(a)) if (typeof val !== 'string') throw wrong(doc, `${field}.annotations.${k}`, 'a string');
    d.annotations = a as Record<string, string>;
  }
  return d;
}

/** An image config: the fields minc uses have their types; rootfs.diff_ids, when there, are digests. */
export function imageConfig(v: unknown, doc: string): ImageConfig {
  const c = object(v, doc, '');
  for (const k of ['architecture', 'os', 'variant', 'created'] as const) if (c[k] !== undefined) string(c[k], doc, k);
  if (c.config !== undefined && c.config !== null) {
    const cc = object(c.config, doc, 'config');
    for (const k of ['Env', 'Cmd', 'Entrypoint']) if (cc[k] !== undefined && cc[k] !== null) strings(cc[k], doc, `config.${k}`);
    for (const k of ['WorkingDir', 'User']) if (cc[k] !== undefined && typeof cc[k] !== 'string') throw wrong(doc, `config.${k}`, 'a string');
  } else delete c.config;
  if (c.rootfs !== undefined) {
    const r = object(c.rootfs, doc, 'rootfs');
    array(r.diff_ids, doc, 'rootfs.diff_ids').forEach((d, i) => digest(d, doc, `rootfs.diff_ids[${i}]`));
  }
  if (c.history !== undefined && c.history !== null) array(c.history, doc, 'history');
  return c as ImageConfig;
}
