// marten on a real image (issue 12), run by bench/marten.mjs:
//   a debootstrap'd Debian 12 minbase rootfs (made once, cached under
//   /var/cache/mincs-bench/), imported; `apt-get install cowsay` in a
//   `minc -r` container (the host's network, as a plain minc run has),
//   committed: a second layer of ~130 MB.  Then, interleaved, medians:
//     marten export              vs podman save of the same image (podman load
//                                   of the export; else skopeo copy, said so)
//     marten push (first: packs and gzips: igzip, else pigz)  vs skopeo copy docker-archive:... docker://
//     marten pull                vs skopeo copy docker://... oci:DIR
//   and, for information: the warm push (blobs stored), an export that
//   gunzips the blobs a push stored, the first minc -r
//   after a pull (it unpacks), a warm `minc -r IMAGE true`.
// Targets: export <= podman save; push and pull <= skopeo.
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const CACHE = process.env.MINCS_BENCH_CACHE ?? '/var/cache/mincs-bench'; // (another dir: to try a fresh debootstrap)
const ROOTFS = join(CACHE, 'bookworm-minbase');
const MARK = `${ROOTFS}.done`; // written once debootstrap finished: a half-made tree is never reused
const has = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;

/** The cached rootfs, made on first use: debootstrap --variant=minbase bookworm from Debian's mirror. */
export function debianRootfs(env) {
  if (existsSync(MARK) && existsSync(join(ROOTFS, 'etc/debian_version'))) return ROOTFS;
  if (!has('debootstrap')) {
    const r = spawnSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', 'debootstrap'], { env, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`apt-get install debootstrap failed: ${r.stderr.trim().split('\n').at(-1)}`);
  }
  mkdirSync(CACHE, { recursive: true, mode: 0o700 });
  const tmp = `${ROOTFS}.tmp`;
  rmSync(tmp, { recursive: true, force: true });
  rmSync(ROOTFS, { recursive: true, force: true });
  console.log(`(making ${ROOTFS} with debootstrap, once)`);
  const r = spawnSync('debootstrap', ['--variant=minbase', 'bookworm', tmp, 'http://deb.debian.org/debian'], { env, encoding: 'utf8' });
  if (r.status !== 0) {
    const log = existsSync(join(tmp, 'debootstrap/debootstrap.log')) ? readFileSync(join(tmp, 'debootstrap/debootstrap.log'), 'utf8') : '';
    rmSync(tmp, { recursive: true, force: true });
    throw new Error(`debootstrap failed (status ${r.status}): ${(r.stderr || log).trim().split('\n').slice(-3).join(' | ')}`);
  }
  renameSync(tmp, ROOTFS);
  writeFileSync(MARK, `${new Date().toISOString()}\n`);
  return ROOTFS;
}

/** Run the real-image case (run(cmd, args, extraEnv) runs and returns ms); true when its targets are met. */
export async function realImage({ run, median, env, work, registry, startRegistry, MARTEN, MINC, ROUNDS }) {
  const rootfs = debianRootfs(env);
  const S = { MINCS_DIR: join(work, 'real-store') };
  const tag = `mincs-bench-${randomBytes(4).toString('hex')}`;
  const once = {};
  once.import = run(MARTEN, ['import', rootfs, '--name', 'deb12'], S);
  once.install = run(MINC, ['-r', 'deb12', '--name', 'cowsay', 'sh', '-c',
    'apt-get update -qq && apt-get install -y -qq --no-install-recommends cowsay >/dev/null && test -x /usr/games/cowsay'],
  { ...S, DEBIAN_FRONTEND: 'noninteractive' });
  once.commit = run(MARTEN, ['commit', 'cowsay', '--name', tag], S);
  const layers = readdirSync(join(S.MINCS_DIR, 'images'));
  const lj = (l) => join(S.MINCS_DIR, 'images', l, 'layer.json');
  const layerJson = Object.fromEntries(layers.map((l) => [l, existsSync(lj(l)) ? readFileSync(lj(l), 'utf8') : null]));
  /** The store as after commit: no blob packed yet, so the next push packs and gzips again. */
  const unpushed = () => {
    for (const [l, text] of Object.entries(layerJson)) {
      if (text === null) rmSync(lj(l), { force: true });
      else writeFileSync(lj(l), text);
    }
    rmSync(join(S.MINCS_DIR, 'blobs/sha256'), { recursive: true, force: true });
    mkdirSync(join(S.MINCS_DIR, 'blobs/sha256'), { mode: 0o700 });
  };
  const ref = `${registry.host}/bench/${tag}`;
  const podman = has('podman');
  const first = join(work, 'real-export.tar');
  run(MARTEN, ['export', tag, '-o', first], S);
  const size = execFileSync('du', ['-sm', first], { encoding: 'utf8' }).split('\t')[0];
  let podRef;
  if (podman) {
    const out = execFileSync('podman', ['load', '-q', '-i', first], { env, encoding: 'utf8' });
    podRef = /Loaded image(?:\(s\))?: (\S+)/.exec(out)?.[1];
    if (!podRef) throw new Error(`podman load: no image named in ${JSON.stringify(out)}`);
  }
  run(MARTEN, ['push', tag, `${ref}:latest`], S);
  const t = { export: [], exportBlobs: [], other: [], push: [], pushWarm: [], skPush: [], pull: [], skPull: [], firstRun: [], warmRun: [] };
  try {
    for (let i = 0; i < ROUNDS; i++) {
      const e = join(work, `real-e${i}.tar`);
      unpushed(); // an image never pushed: its layers are packed from their directories
      t.export.push(run(MARTEN, ['export', tag, '-o', e], S));
      rmSync(e, { force: true });
      const p = join(work, `real-p${i}.tar`);
      t.other.push(podman ? run('podman', ['save', '-o', p, podRef]) : run('skopeo', ['copy', '--quiet', `docker-archive:${first}`, `docker-archive:${p}`]));
      rmSync(p, { force: true });
      // each push into a registry of its own: none of them finds a blob already there (skopeo's
      // blob-info cache would otherwise skip compressing and uploading what a registry it knows holds)
      for (const [who, key] of [['marten', 'push'], ['warm', 'pushWarm'], ['skopeo', 'skPush']]) {
        const r = await startRegistry(`real-reg-${who}${i}`);
        try {
          const dest = `${r.host}/bench/${tag}:latest`;
          if (who === 'marten') unpushed();
          t[key].push(who === 'skopeo'
            ? run('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', `docker-archive:${first}`, `docker://${dest}`])
            : run(MARTEN, ['push', tag, dest], S));
        } finally {
          r.proc.kill('SIGTERM');
          await new Promise((res) => r.proc.once('exit', res));
          rmSync(join(work, `real-reg-${who}${i}`), { recursive: true, force: true });
        }
      }
      // blobs stored now (the pushes): an export gunzips them
      t.exportBlobs.push(run(MARTEN, ['export', tag, '-o', e], S));
      rmSync(e, { force: true });
      const s = { MINCS_DIR: join(work, `real-pull${i}`) };
      t.pull.push(run(MARTEN, ['pull', `${ref}:latest`, '--name', 'pulled'], s));
      t.firstRun.push(run(MINC, ['-r', 'pulled', 'true'], s));
      t.warmRun.push(run(MINC, ['-r', 'pulled', 'true'], s));
      rmSync(s.MINCS_DIR, { recursive: true, force: true });
      const o = join(work, `real-oci${i}`);
      t.skPull.push(run('skopeo', ['copy', '--quiet', '--src-tls-verify=false', `docker://${ref}:latest`, `oci:${o}`]));
      rmSync(o, { recursive: true, force: true });
    }
  } finally {
    if (podRef) spawnSync('podman', ['rmi', '-f', podRef], { env, stdio: 'ignore' });
    rmSync(first, { force: true });
  }
  const m = Object.fromEntries(Object.entries(t).map(([k, v]) => [k, median(v)]));
  const row = (name, ms) => console.log(`${name.padEnd(60)} ${ms.toFixed(0).padStart(7)} ms`);
  console.log(`\nmarten on a real image: Debian 12 minbase (debootstrap, cached in ${CACHE}) + cowsay, export ${size} MB; medians of ${ROUNDS}`);
  row('(once) marten import of the rootfs', once.import);
  row('(once) minc -r: apt-get install cowsay (host network)', once.install);
  row('(once) marten commit', once.commit);
  row('marten export (uncompressed, never exported before)', m.export);
  row('(marten export, once pushed: gunzips the stored blobs)', m.exportBlobs);
  row(podman ? 'podman save -o (same image, podman load-ed)' : 'skopeo copy docker-archive: docker-archive: (no podman here)', m.other);
  row('marten push, first (packs, gzips: igzip, else pigz)', m.push);
  row('(marten push again, blobs stored: no target)', m.pushWarm);
  row('skopeo copy docker-archive:EXPORT docker:// (gzips)', m.skPush);
  row('marten pull', m.pull);
  row('skopeo copy docker://... oci:DIR', m.skPull);
  row('(first minc -r IMAGE true after the pull: unpacks)', m.firstRun);
  row('(warm minc -r IMAGE true)', m.warmRun);
  const okExport = m.export <= m.other;
  const okPush = m.push <= m.skPush;
  const okPull = m.pull <= m.skPull;
  console.log(`target marten export <= ${podman ? 'podman save' : 'skopeo copy'}: ${okExport ? 'met' : 'MISSED'} (${(m.export / m.other).toFixed(2)}x)`);
  console.log(`target marten push <= skopeo: ${okPush ? 'met' : 'MISSED'} (${(m.push / m.skPush).toFixed(2)}x)`);
  console.log(`target marten pull <= skopeo: ${okPull ? 'met' : 'MISSED'} (${(m.pull / m.skPull).toFixed(2)}x)`);
  return okExport && okPush && okPull;
}
