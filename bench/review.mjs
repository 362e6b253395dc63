// npm run bench (issue 9): reviewing a sandbox that holds 10,000 changed files
// (100 new directories of 100 files, made by a real `minc -k -r ROOT` run
// over a busybox root under /var/tmp):
//
//   minc --summary DIR          target: under 0.5 s
//   minc --apply DIR            against `cp -a` of the same files (target: no slower)
//
// Each figure is the median wall time of BENCH_REVIEW_ROUNDS (default 5) runs
// of bin/minc as built (run `npm run build` first), node's start included.
// Every apply goes onto a fresh copy of the root's /w (removed between rounds).
import { spawnSync } from 'node:child_process';
import { copyFileSync, chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const ROUNDS = Number(process.env.BENCH_REVIEW_ROUNDS ?? 5);
const MINC = `${ROOT}bin/minc`;

if (process.getuid?.() !== 0) {
  console.error('bench: minc needs root (try: sudo npm run bench)');
  process.exit(2);
}
// users do not have NODE_EXTRA_CA_CERTS (it adds ~140 ms to every node start); no MINC_* either
const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'NODE_EXTRA_CA_CERTS' && !k.startsWith('MINC_')));

function run(argv, what) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(argv[0], argv.slice(1), { env, stdio: ['ignore', 'ignore', 'pipe'], maxBuffer: 1 << 30 });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.error || r.status !== 0) throw new Error(`${what}: ${r.error?.message ?? r.stderr.toString().trim()}`);
  return ms;
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const base = mkdtempSync('/var/tmp/minc-bench-review-');
try {
  const root = join(base, 'root');
  for (const d of ['bin', 'etc', 'proc', 'sys', 'dev', 'tmp', 'w']) mkdirSync(join(root, d), { recursive: true });
  copyFileSync('/bin/busybox', join(root, 'bin/busybox'));
  chmodSync(join(root, 'bin/busybox'), 0o755);
  for (const a of ['sh', 'mkdir', 'echo']) symlinkSync('busybox', join(root, 'bin', a));
  const dir = join(base, 'sandbox');
  run([MINC, '-r', root, '-t', dir, 'sh', '-c',
    'cd /w && d=0; while [ $d -lt 100 ]; do mkdir d$d; f=0; while [ $f -lt 100 ]; do echo "file $d $f" > d$d/f$f; f=$((f+1)); done; d=$((d+1)); done'], 'making the sandbox');

  const summary = [];
  for (let i = 0; i < ROUNDS + 1; i++) summary.push(run([MINC, '--summary', dir], '--summary'));
  summary.shift(); // the first one warms the page cache
  const apply = [];
  const cp = [];
  const target = join(base, 'cp-target');
  for (let i = 0; i < ROUNDS; i++) {
    apply.push(run([MINC, '--apply', dir], '--apply'));
    rmSync(join(root, 'w'), { recursive: true });
    mkdirSync(join(root, 'w'));
    rmSync(join(dir, 'review'), { recursive: true });
    mkdirSync(target);
    cp.push(run(['cp', '-a', join(dir, 'storage/w/.'), target], 'cp -a'));
    rmSync(target, { recursive: true });
  }
  const fmt = (ms) => `${ms.toFixed(0).padStart(6)} ms`;
  console.log(`review of 10,000 changed files (median of ${ROUNDS}):`);
  console.log(`  minc --summary DIR   ${fmt(median(summary))}   (target: under 500 ms)`);
  console.log(`  minc --apply DIR     ${fmt(median(apply))}`);
  console.log(`  cp -a                ${fmt(median(cp))}   (target: --apply no slower)`);
} finally {
  rmSync(base, { recursive: true, force: true });
}
