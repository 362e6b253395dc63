/**
 * A bounded-time fuzz pass (seeded: a failure prints its seed and input) over what
 * marten reads from a registry and from its command line: manifests, indexes,
 * configs, token replies (bytes -> parseJson -> shape check -> the uses pull makes
 * of the result) and image references.  Random and mutated inputs (from valid
 * samples: wrong types, nulls, missing fields, huge numbers, odd digests, bytes
 * flipped); nothing may throw anything but the project's MincError, and a checked
 * document must then be usable without a JavaScript error.
 */
import { describe, expect, it } from 'vitest';
import { MincError } from '../../../src/errors.js';
import { chainIds, parsePlatform, platformString } from '../../../src/marten/oci.js';
import { pickPlatform } from '../../../src/marten/platform.js';
import { parseRef, refString } from '../../../src/marten/registry/ref.js';
import { checkConfig, checkIndex, checkManifest, checkToken, parseJson } from '../../../src/marten/registry/shape.js';
import { CONFIG, INDEX, MANIFEST, TOKEN } from './samples.js';
import { rng } from '../support/rng.js';

const SEED = Number(process.env.FUZZ_SEED ?? 0x5eed);
const MS = Number(process.env.FUZZ_MS ?? 2500);


type R = () => number;
const int = (r: R, n: number): number => Math.floor(r() * n);
const pick = <T>(r: R, xs: readonly T[]): T => xs[int(r, xs.length)]!;

const ODD = [
  null, true, false, 0, -1, 1.5, 2 ** 53, 2 ** 64, -(2 ** 63), 1e308, Number.MAX_SAFE_INTEGER, '', ' ', 'sha256:', `sha256:${'A'.repeat(64)}`,
  `sha256:${'a'.repeat(63)}`, `sha256:${'a'.repeat(65)}`, `sha512:${'a'.repeat(128)}`, `sha256:${'0'.repeat(64)}`, '../../etc/passwd', '\u0000',
  'application/vnd.oci.image.index.v1+json', 'application/vnd.oci.image.manifest.v1+json', 'x'.repeat(10_000), [], {}, [null], { length: 1 },
  { __proto__: { digest: 'x' } }, '__proto__', 'constructor', 'linux', 'amd64',
];

function randomValue(r: R, depth = 0): unknown {
  const k = int(r, depth > 3 ? 4 : 7);
  if (k === 0) return pick(r, ODD);
  if (k === 1) return r() * 2 ** int(r, 70) * (r() < 0.5 ? -1 : 1);
  if (k === 2) return Array.from({ length: int(r, 20) }, () => String.fromCharCode(int(r, 0x3000))).join('');
  if (k === 3) return int(r, 2) === 0;
  if (k === 4) return Array.from({ length: int(r, 4) }, () => randomValue(r, depth + 1));
  const keys = ['schemaVersion', 'mediaType', 'config', 'layers', 'manifests', 'digest', 'size', 'platform', 'os', 'architecture', 'rootfs', 'diff_ids', 'token', 'access_token', 'Env', 'Cmd'];
  return Object.fromEntries(Array.from({ length: int(r, 5) }, () => [pick(r, keys), randomValue(r, depth + 1)]));
}

/** A copy of doc with one to three random changes somewhere in its tree. */
function mutate(r: R, doc: unknown): unknown {
  const copy = structuredClone(doc) as unknown;
  for (let n = 1 + int(r, 3); n > 0; n--) {
    // walk to a random container
    let node = copy as Record<string, unknown> | unknown[];
    for (let d = int(r, 5); d > 0; d--) {
      const keys = Object.keys(node);
      if (keys.length === 0) break;
      const next = (node as Record<string, unknown>)[pick(r, keys)];
      if (typeof next !== 'object' || next === null) break;
      node = next as Record<string, unknown>;
    }
    const keys = Object.keys(node);
    if (keys.length === 0) continue;
    const key = pick(r, keys);
    const op = int(r, 4);
    if (op === 0) delete (node as Record<string, unknown>)[key];
    else if (op === 1) (node as Record<string, unknown>)[key] = pick(r, ODD);
    else (node as Record<string, unknown>)[key] = randomValue(r);
  }
  return copy;
}

/** Byte-level changes to a serialized document: flips, cuts, insertions. */
function mutateBytes(r: R, b: Buffer): Buffer {
  const out = Buffer.from(b);
  const op = int(r, 4);
  if (op === 0) return out.subarray(0, int(r, out.length));
  if (op === 1) {
    for (let n = 1 + int(r, 4); n > 0; n--) out[int(r, out.length)] = int(r, 256);
    return out;
  }
  if (op === 2) {
    const at = int(r, out.length);
    return Buffer.concat([out.subarray(0, at), Buffer.from(pick(r, ['"', '{', '[', ']', '}', ',', ':', 'null', '1e999', '\\u0000', '\xff'])), out.subarray(at)]);
  }
  return Buffer.from(JSON.stringify(randomValue(r)) ?? 'null');
}

/** What pull does with each checked document (pull.ts): it must not throw a JavaScript error either. */
const USES: Record<string, (bytes: Buffer) => void> = {
  manifest: (b) => {
    const m = checkManifest(parseJson(b, 'manifest t'), 'manifest t');
    m.layers.map((l) => [l.digest.slice(7), l.size, l.mediaType.split(';')]);
    void m.config.digest.slice(7);
  },
  index: (b) => {
    const i = checkIndex(parseJson(b, 'index t'), 'index t');
    const d = pickPlatform(i.manifests, { os: 'linux', architecture: 'amd64' }) ?? pickPlatform(i.manifests, { os: 'linux', architecture: 'arm', variant: 'v7' });
    void d?.digest.slice(7);
    i.manifests.map((x) => (x.platform ? platformString(x.platform) : '?')).join(', ');
  },
  config: (b) => {
    const c = checkConfig(parseJson(b, 'config c'), 'config c');
    chainIds(c.rootfs!.diff_ids);
    void [c.config?.Env?.join(), c.config?.Cmd?.join(), c.config?.Entrypoint?.join(), c.architecture, c.os];
  },
  token: (b) => {
    const t = checkToken(parseJson(b, 'token reply'), 'token reply');
    new Headers({ authorization: `Bearer ${t}` });
  },
};
const SAMPLES: Record<string, unknown> = { manifest: MANIFEST, index: INDEX, config: CONFIG, token: TOKEN };

function fuzz(name: string, gen: (r: R) => Buffer | string, use: (x: Buffer | string) => void): number {
  const r = rng(SEED ^ [...name].reduce((h, c) => Math.imul(h, 31) + c.charCodeAt(0), 7));
  const end = Date.now() + MS;
  let n = 0;
  let rejected = 0;
  while (Date.now() < end) {
    const input = gen(r);
    n++;
    try {
      use(input);
    } catch (e) {
      if (!(e instanceof MincError)) {
        throw new Error(`${name} (FUZZ_SEED=${SEED}, case ${n}): ${(e as Error).stack}\ninput: ${String(input).slice(0, 2000)}`);
      }
      rejected++;
    }
  }
  // the pass must have tried many cases, some of them rejected and some accepted
  expect(n).toBeGreaterThan(500);
  expect(rejected).toBeGreaterThan(0);
  expect(rejected).toBeLessThan(n);
  return n;
}

describe(`fuzz (seed ${SEED}, ${MS} ms each)`, () => {
  for (const name of Object.keys(USES)) {
    it(`${name}: random, mutated and byte-mangled documents throw only MincError`, () => {
      const sample = Buffer.from(JSON.stringify(SAMPLES[name]));
      fuzz(name, (r) => {
        const k = int(r, 10);
        if (k === 0) return sample;
        if (k < 6) return Buffer.from(JSON.stringify(mutate(r, SAMPLES[name])) ?? 'null');
        if (k < 9) return mutateBytes(r, sample);
        return Buffer.from(JSON.stringify(randomValue(r)) ?? 'null');
      }, (b) => USES[name]!(b as Buffer));
    }, MS + 20_000);
  }

  it('image references and --platform: random and mutated strings throw only MincError (UsageError), each quickly', () => {
    const valid = ['alpine', 'user/app:1.2', '127.0.0.1:5000/a/b:v1', `h.example:1/x@sha256:${'a'.repeat(64)}`, 'localhost/x', '[::1]:5000/a__b/c-d.e:t_1'];
    const chars = 'abcz019AZ._-_/:@[]%+ \u00e9\u0000\n';
    let slowest = 0;
    const r2 = rng(SEED);
    fuzz('ref', (r) => {
      const k = int(r, 3);
      if (k === 0) return Array.from({ length: int(r, 80) }, () => chars[int(r, chars.length)]).join('');
      const s = [...pick(r, valid)];
      for (let n = 1 + int(r, 4); n > 0; n--) {
        const at = int(r, s.length + 1);
        if (r() < 0.5) s.splice(at, 1);
        else s.splice(at, 0, chars[int(r, chars.length)]!.repeat(1 + int(r, r() < 0.1 ? 5000 : 3)));
      }
      return s.join('');
    }, (spec) => {
      const t0 = performance.now();
      try {
        if (int(r2, 4) === 0) {
          platformString(parsePlatform(spec as string));
          return;
        }
        const ref = parseRef(spec as string);
        // what it gives back is a reference again
        expect(parseRef(refString(ref))).toEqual(ref);
      } finally {
        slowest = Math.max(slowest, performance.now() - t0);
      }
    });
    // a guard against catastrophic backtracking (a regex gone exponential takes seconds), not a speed goal: loose enough for a loaded machine
    expect(slowest).toBeLessThan(1000);
  }, MS + 20_000);
});
