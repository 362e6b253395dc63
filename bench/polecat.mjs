// npm run bench (polecat's part): the build time of the python3 bundle, its
// size against the host root's, and a bundle's start against minc's:
//
//   polecat -o py.sh / python3 -c 'print(6*7)'   build time (median of BENCH_POLECAT_BUILDS, default 3)
//   size of py.sh                                  against the used bytes of /'s file system (statfs: du -sx / takes ~a minute)
//   ./bundle true                                  a bundle of a busybox rootfs (no baked command)
//   minc -r DIR true                               the same rootfs by minc
//
// Target: ./bundle true within 1.5x of minc -r DIR true.  Interleaved rounds
// (BENCH_ROUNDS, default 20) after BENCH_WARMUP (default 3) warm-up rounds.
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, rmSync, statSync, statfsSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 20);
const WARMUP = Number(process.env.BENCH_WARMUP ?? 3);
const BUILDS = Number(process.env.BENCH_POLECAT_BUILDS ?? 3);

if (process.getuid?.() !== 0) {
  console.error('bench: polecat and minc need root (try: sudo npm run bench)');
  process.exit(2);
}
const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'NODE_EXTRA_CA_CERTS' && !k.startsWith('MINC_')));
env.PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

const work = mkdtempSync('/var/tmp/polecat-bench-');
const timed = (argv) => {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(argv[0], argv.slice(1), { env, stdio: ['ignore', 'ignore', 'pipe'], cwd: work });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) {
    console.error(`bench: '${argv.join(' ')}' failed (status ${r.status}): ${r.stderr}`);
    rmSync(work, { recursive: true, force: true });
    process.exit(1);
  }
  return ms;
};
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const mb = (n) => `${(n / 1e6).toFixed(1)} MB`;

try {
  const py = join(work, 'py.sh');
  const builds = [];
  for (let i = 0; i < BUILDS; i++) builds.push(timed([`${ROOT}bin/polecat`, '-o', py, '/', 'python3', '-c', 'print(6*7)']));
  const size = statSync(py).size;
  const fs = statfsSync('/');
  const used = (fs.blocks - fs.bfree) * fs.bsize;

  const rootfs = join(work, 'rootfs');
  for (const d of ['bin', 'etc', 'tmp', 'proc', 'sys', 'dev']) mkdirSync(join(rootfs, d), { recursive: true });
  copyFileSync('/bin/busybox', join(rootfs, 'bin/busybox'));
  chmodSync(join(rootfs, 'bin/busybox'), 0o755);
  for (const a of ['sh', 'true', 'ps']) symlinkSync('busybox', join(rootfs, 'bin', a));
  const bundle = join(work, 'busybox.sh');
  timed([`${ROOT}bin/polecat`, '-o', bundle, rootfs]);
  const cmds = [
    { key: 'bundle', label: './busybox.sh true', argv: [bundle, 'true'] },
    { key: 'minc', label: 'minc -r DIR true', argv: [`${ROOT}bin/minc`, '-r', rootfs, 'true'] },
  ];
  const times = { bundle: [], minc: [] };
  for (let round = 0; round < WARMUP + ROUNDS; round++) {
    for (let j = 0; j < cmds.length; j++) {
      const c = cmds[(round + j) % cmds.length];
      const ms = timed(c.argv);
      if (round >= WARMUP) times[c.key].push(ms);
    }
  }
  const mb_ = median(times.bundle);
  const mm = median(times.minc);
  console.log(`polecat (node ${process.version}, ${new Date().toISOString()})`);
  console.log(`python3 bundle build: median ${median(builds).toFixed(0)} ms of ${BUILDS} (min ${Math.min(...builds).toFixed(0)} ms)`);
  console.log(`python3 bundle size: ${mb(size)}, against ${mb(used)} used on the file system of / (${((100 * size) / used).toFixed(3)}%)`);
  console.log(`${ROUNDS} rounds (after ${WARMUP} warm-up), interleaved:`);
  for (const c of cmds) console.log(`  ${c.label.padEnd(22)} median ${median(times[c.key]).toFixed(1).padStart(7)} ms  min ${Math.min(...times[c.key]).toFixed(1).padStart(7)} ms`);
  const ratio = mb_ / mm;
  console.log(`target: bundle start within 1.5x of minc -r DIR: ${ratio.toFixed(2)}x: ${ratio <= 1.5 ? 'MET' : 'MISSED'}`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
