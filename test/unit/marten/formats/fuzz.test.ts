/**
 * A bounded-time fuzz pass over the archive parsers (docker save, both forms,
 * and OCI layouts: outer tar, manifest.json, repositories, <id>/json,
 * index.json, manifests, configs): random bytes, byte mutations of valid
 * archives, and valid tars whose JSON members are mutated in shape.  Nothing
 * may throw but MincError.  Seeded (FUZZ_SEED=N to replay); ~3 s a form.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MincError } from '../../../../src/errors.js';
import { readArchive } from '../../../../src/marten/formats/archive.js';
import { openRegular } from '../../../../src/marten/formats/outer.js';
import { sha } from '../../../helpers/images.js';
import { tarBuffer, type TarEntry } from '../../../helpers/tarball.js';
import { rng } from '../../support/rng.js';

const SEED = Number(process.env.FUZZ_SEED ?? 20260812);
const MS = Number(process.env.FUZZ_MS ?? 3000);
const tmp = mkdtempSync('/tmp/marten-unit-fuzz-');
afterAll(() => rmSync(tmp, { recursive: true, force: true }));


type Doc = { name: string; json: unknown };
interface Form {
  docs: Doc[];
  blobs: TarEntry[];
}

function forms(layer: Buffer): Record<string, () => Form> {
  const config = { architecture: 'amd64', os: 'linux', config: { Env: ['A=1'], Cmd: ['sh'] }, rootfs: { type: 'layers', diff_ids: [sha(layer)] } };
  const id = 'a'.repeat(64);
  return {
    'docker save (manifest.json)': () => ({
      docs: [{ name: 'manifest.json', json: [{ Config: 'c.json', RepoTags: ['x:1'], Layers: ['l/layer.tar'] }] }, { name: 'c.json', json: config }],
      blobs: [{ name: 'l/layer.tar', body: layer }],
    }),
    'docker save (legacy)': () => ({
      docs: [{ name: 'repositories', json: { x: { latest: id } } }, { name: `${id}/json`, json: { id, ...config } }],
      blobs: [{ name: `${id}/layer.tar`, body: layer }],
    }),
    'OCI layout': () => {
      const cfg = JSON.stringify(config);
      const manifest = { schemaVersion: 2, config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(cfg), size: cfg.length },
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha(layer), size: layer.length }] };
      const m = JSON.stringify(manifest);
      // the manifest and config go in as blobs (their digests must hold): mutating them is mutating bytes
      return {
        docs: [{ name: 'oci-layout', json: { imageLayoutVersion: '1.0.0' } },
          { name: 'index.json', json: { schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sha(m), size: m.length }] } }],
        blobs: [{ name: `blobs/sha256/${sha(cfg).slice(7)}`, body: cfg }, { name: `blobs/sha256/${sha(m).slice(7)}`, body: m }, { name: `blobs/sha256/${sha(layer).slice(7)}`, body: layer }],
      };
    },
  };
}

const WEIRD: unknown[] = [null, 0, -1, 1e300, '', 'x', '../../etc/passwd', '/etc/passwd', 'sha256:', `sha256:${'0'.repeat(64)}`, [], {}, [null], { length: 1 }, true, '\u0000', 'a'.repeat(300)];

/** Replace, delete or retype a random node of a JSON value. */
function mutateJson(v: unknown, r: () => number, depth = 0): unknown {
  const pick = <T>(a: readonly T[]): T => a[Math.floor(r() * a.length)]!;
  if (depth > 0 && r() < 0.25) return pick(WEIRD);
  if (Array.isArray(v)) {
    if (v.length === 0 || r() < 0.1) return r() < 0.5 ? [] : [pick(WEIRD)];
    const copy = [...v];
    const i = Math.floor(r() * copy.length);
    copy[i] = mutateJson(copy[i], r, depth + 1);
    return copy;
  }
  if (v !== null && typeof v === 'object') {
    const o = { ...(v as Record<string, unknown>) };
    const keys = Object.keys(o);
    if (keys.length === 0) return pick(WEIRD);
    const k = pick(keys);
    const roll = r();
    if (roll < 0.2) delete o[k];
    else if (roll < 0.3) o.__proto__ = pick(WEIRD);
    else o[k] = mutateJson(o[k], r, depth + 1);
    return o;
  }
  return pick(WEIRD);
}

function mutateBytes(b: Buffer, r: () => number): Buffer {
  const out = Buffer.from(b);
  const roll = r();
  if (roll < 0.2) return out.subarray(0, Math.floor(r() * out.length));
  const n = 1 + Math.floor(r() * 16);
  for (let i = 0; i < n; i++) {
    const at = Math.floor(r() * out.length);
    // the header blocks are where the parsers decide things: hit them more often
    const block = Math.floor(r() * (out.length / 512)) * 512;
    out[r() < 0.6 ? block + Math.floor(r() * 512) : at] = Math.floor(r() * 256);
  }
  return out;
}

let n = 0;
async function parse(bytes: Buffer): Promise<void> {
  const file = join(tmp, `a${n}.tar`);
  const dir = join(tmp, `d${n++}`);
  writeFileSync(file, bytes);
  try {
    await readArchive(openRegular(file), dir); // the fd is readArchive's to close
  } finally {
    rmSync(dir, { recursive: true, force: true });
    rmSync(file, { force: true });
  }
}

describe('fuzzing the archive parsers', async () => {
  const layer = await tarBuffer([{ name: 'f', body: 'x' }]);
  for (const [form, make] of Object.entries(forms(layer))) {
    it(`${form}: only MincError, whatever the input (seed ${SEED})`, async () => {
      const r = rng(SEED + form.length);
      const build = (f: Form): Promise<Buffer> => tarBuffer([...f.docs.map((d) => ({ name: d.name, body: JSON.stringify(d.json) ?? 'null' })), ...f.blobs]);
      const valid = await build(make());
      await parse(valid); // the valid archive parses
      const end = Date.now() + MS;
      let runs = 0;
      let refused = 0;
      while (Date.now() < end) {
        const roll = r();
        let input: Buffer;
        if (roll < 0.1) input = Buffer.from(Array.from({ length: Math.floor(r() * 4096) }, () => Math.floor(r() * 256)));
        else if (roll < 0.5) input = mutateBytes(valid, r);
        else {
          const f = make();
          const d = f.docs[Math.floor(r() * f.docs.length)]!;
          d.json = mutateJson(d.json, r);
          input = await build(f);
        }
        runs++;
        try {
          await parse(input);
        } catch (err) {
          if (!(err instanceof MincError)) {
            throw new Error(`run ${runs} (FUZZ_SEED=${SEED}): ${err instanceof Error ? `${err.constructor.name}: ${err.message}` : String(err)}`);
          }
          refused++;
        }
      }
      expect(runs).toBeGreaterThan(50);
      expect(refused).toBeGreaterThan(runs / 4);
    }, MS + 30_000);
  }
});
