#!/usr/bin/env node
// marten's bench (issue 3), interleaved in one run, medians of N rounds:
//   marten pull of a ~100 MB, 5-layer image from a loopback docker-registry
//     vs skopeo copy docker://... oci:DIR           (target: marten <= skopeo)
//     (both store verified blobs; marten unpacks a layer on its first use, so
//     `marten unpack` of the pulled image is shown too, for information)
//   marten import of a 200 MB tree vs cp -a         (target: marten <= 1.2x cp -a)
//   marten on a real image (issue 12): bench/marten-real.mjs says what
// Needs root, docker-registry and skopeo (Debian packages), a built dist/;
// the real image also debootstrap (installed if missing) and podman if any.
// Usage: node bench/marten.mjs [ROUNDS] [synthetic|real]   (both by default;
// exit status 1 if a target is missed)
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { createHash } from 'node:crypto';
import { realImage } from './marten-real.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const MARTEN = join(ROOT, 'bin/marten');
const MINC = join(ROOT, 'bin/minc');
const ROUNDS = Number(process.argv[2] ?? 5);
const ONLY = process.argv[3];
const env = { ...process.env };
delete env.NODE_EXTRA_CA_CERTS; // not part of what is measured
const work = mkdtempSync('/tmp/marten-bench-');
let registry;

function run(cmd, args, extraEnv = {}) {
  const t = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { env: { ...env, ...extraEnv }, stdio: ['ignore', 'ignore', 'pipe'], maxBuffer: 1 << 26 });
  const ms = Number(process.hrtime.bigint() - t) / 1e6;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: status ${r.status}: ${r.stderr}`);
  return ms;
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const sha = (b) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

function freePort() {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function startRegistry(name = 'registry') {
  const port = await freePort();
  const dir = join(work, name);
  mkdirSync(dir);
  writeFileSync(join(dir, 'config.yml'), `version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: ${dir}/data\nhttp:\n  addr: 127.0.0.1:${port}\n`);
  const proc = spawn('/usr/bin/docker-registry', ['serve', join(dir, 'config.yml')], { stdio: 'ignore' });
  const host = `127.0.0.1:${port}`;
  for (let i = 0; i < 200; i++) {
    try {
      if ((await fetch(`http://${host}/v2/`)).ok) return { host, proc };
    } catch { /* not yet */ }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('docker-registry did not start');
}

/** A 5-layer image of ~20 MB random files each, as an OCI layout tarball (gzip layers). */
function bigImage() {
  const dir = join(work, 'oci');
  const blobs = join(dir, 'blobs/sha256');
  mkdirSync(blobs, { recursive: true });
  const put = (b) => { const d = sha(b); writeFileSync(join(blobs, d.slice(7)), b); return d; };
  const layers = [];
  const diffIds = [];
  for (let i = 0; i < 5; i++) {
    const l = join(work, `layer${i}`);
    mkdirSync(join(l, `d${i}`), { recursive: true });
    for (let f = 0; f < 20; f++) writeFileSync(join(l, `d${i}`, `f${f}`), randomBytes(1 << 20));
    const tar = execFileSync('tar', ['-C', l, '-cf', '-', '.'], { maxBuffer: 1 << 28 });
    diffIds.push(sha(tar));
    const gz = gzipSync(tar, { level: 1 });
    layers.push({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: put(gz), size: gz.length });
    rmSync(l, { recursive: true, force: true });
  }
  const config = JSON.stringify({ architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: diffIds } });
  const manifest = JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: put(config), size: config.length }, layers });
  const md = put(manifest);
  writeFileSync(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  writeFileSync(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: md, size: manifest.length }] }));
  execFileSync('tar', ['-C', dir, '-cf', join(work, 'big.tar'), '.']);
  rmSync(dir, { recursive: true, force: true });
  return join(work, 'big.tar');
}

/** A 200 MB tree: 2000 files of 100 KB in 40 directories. */
function bigTree() {
  const dir = join(work, 'tree');
  for (let d = 0; d < 40; d++) {
    mkdirSync(join(dir, `d${d}`), { recursive: true });
    for (let f = 0; f < 50; f++) writeFileSync(join(dir, `d${d}`, `f${f}`), randomBytes(100 * 1024));
  }
  return dir;
}

/** The synthetic cases: pull of a 100 MB 5-layer image, import of a 200 MB tree. */
async function synthetic() {
  const seed = join(work, 'seed-store');
  run(MARTEN, ['import', bigImage(), '--name', 'big'], { MINCS_DIR: seed });
  const ref = `${registry.host}/bench/big:latest`;
  run(MARTEN, ['push', 'big', ref], { MINCS_DIR: seed });
  rmSync(seed, { recursive: true, force: true });
  const tree = bigTree();
  const t = { pull: [], unpack: [], skopeo: [], import: [], cp: [] };
  for (let i = 0; i < ROUNDS; i++) {
    const s = join(work, `s${i}`);
    t.pull.push(run(MARTEN, ['pull', ref], { MINCS_DIR: s }));
    t.unpack.push(run(MARTEN, ['unpack', 'big'], { MINCS_DIR: s }));
    rmSync(s, { recursive: true, force: true });
    const o = join(work, `o${i}`);
    t.skopeo.push(run('skopeo', ['copy', '--quiet', '--src-tls-verify=false', `docker://${ref}`, `oci:${o}`]));
    rmSync(o, { recursive: true, force: true });
    const si = join(work, `si${i}`);
    t.import.push(run(MARTEN, ['import', tree], { MINCS_DIR: si }));
    rmSync(si, { recursive: true, force: true });
    const c = join(work, `c${i}`);
    t.cp.push(run('cp', ['-a', tree, c]));
    rmSync(c, { recursive: true, force: true });
  }
  const m = Object.fromEntries(Object.entries(t).map(([k, v]) => [k, median(v)]));
  const row = (name, ms) => console.log(`${name.padEnd(52)} ${ms.toFixed(0).padStart(7)} ms`);
  console.log(`marten bench: medians of ${ROUNDS} interleaved rounds`);
  row('marten pull (100 MB, 5 layers, loopback registry)', m.pull);
  row('skopeo copy docker://... oci:DIR', m.skopeo);
  row('(then marten unpack: the first use\'s extra, no target)', m.unpack);
  row('marten import (200 MB tree, 2000 files)', m.import);
  row('cp -a (same tree)', m.cp);
  const okPull = m.pull <= m.skopeo;
  const okImport = m.import <= 1.2 * m.cp;
  console.log(`target marten pull <= skopeo copy: ${okPull ? 'met' : 'MISSED'} (${(m.pull / m.skopeo).toFixed(2)}x)`);
  console.log(`target marten import <= 1.2x cp -a: ${okImport ? 'met' : 'MISSED'} (${(m.import / m.cp).toFixed(2)}x)`);
  return okPull && okImport;
}

try {
  if (process.getuid?.() !== 0) throw new Error('run as root');
  registry = await startRegistry();
  let ok = true;
  if (ONLY !== 'real') ok = await synthetic();
  if (ONLY !== 'synthetic') ok = (await realImage({ run, median, env, work, registry, startRegistry, MARTEN, MINC, ROUNDS })) && ok;
  process.exitCode = ok ? 0 : 1;
} catch (err) {
  console.error(`bench/marten: ${err.message}`);
  process.exitCode = 2;
} finally {
  registry?.proc.kill('SIGTERM');
  rmSync(work, { recursive: true, force: true });
}
