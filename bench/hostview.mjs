// npm run bench: what the host's other mounts cost a run (issue 9).  Every
// mount below / that holds files is overlaid at its own path, all by one
// mount --all: measured as `minc true` in a private mount namespace with five
// extra tmpfs mounts under /var/tmp, against the same with none added
// (interleaved, medians).  Target: each mount adds <= 1 ms.
// BENCH_ROUNDS (default 60) and BENCH_WARMUP (default 3) change the counts.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 60);
const WARMUP = Number(process.env.BENCH_WARMUP ?? 3);
const EXTRA = 5;

if (process.getuid?.() !== 0) {
  console.error('bench: minc needs root (try: sudo npm run bench)');
  process.exit(2);
}
const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'NODE_EXTRA_CA_CERTS' && !k.startsWith('MINC_')));
const dir = mkdtempSync('/var/tmp/minc-bench-mounts-');
const mounts = Array.from({ length: EXTRA }, (_, i) => `mkdir -p ${dir}/m${i} && mount -t tmpfs -o size=1m bench${i} ${dir}/m${i} && echo x > ${dir}/m${i}/f`).join(' && ');
// the mounts are made before the clock starts: a private namespace holds them, then minc runs in it
const script = (withMounts) => `${withMounts ? `${mounts} && ` : ''}start=$(date +%s%N); ${ROOT}bin/minc true; end=$(date +%s%N); echo $(( (end - start) / 1000 ))`;

function once(withMounts) {
  const r = spawnSync('unshare', ['-m', '--propagation', 'private', 'sh', '-c', script(withMounts)], { env, encoding: 'utf8' });
  if (r.status !== 0) {
    console.error(`bench: minc true ${withMounts ? 'with' : 'without'} extra mounts failed: ${r.stderr}`);
    process.exit(1);
  }
  return Number(r.stdout.trim()) / 1000;
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const none = [];
const five = [];
// (each round's two runs are adjacent in time: the median of their differences is not moved by the
// machine's own drift over the bench, as the difference of the two medians is)
const diffs = [];
try {
  for (let i = 0; i < WARMUP + ROUNDS; i++) {
    const order = i % 2 ? [true, false] : [false, true];
    const round = {};
    for (const w of order) {
      const ms = once(w);
      round[w] = ms;
      if (i >= WARMUP) (w ? five : none).push(ms);
    }
    if (i >= WARMUP) diffs.push(round[true] - round[false]);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
const m0 = median(none);
const m5 = median(five);
const per = median(diffs) / EXTRA;
console.log(`\nminc true and the host's mounts (${ROUNDS} interleaved rounds, medians)`);
console.log(`  with no extra mount       ${m0.toFixed(1)} ms`);
console.log(`  with ${EXTRA} extra tmpfs mounts ${m5.toFixed(1)} ms`);
console.log(`  each mount adds           ${per.toFixed(2)} ms, the median of the rounds' differences over ${EXTRA} (of the medians: ${((m5 - m0) / EXTRA).toFixed(2)} ms)  (target <= 1 ms: ${per <= 1 ? 'met' : 'NOT met'})`);
