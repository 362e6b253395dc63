// npm run bench: minc true against MINCS's own `minc true` (issue 12), both on
// a pty (`script -qec CMD /dev/null`: MINCS fails without a terminal),
// interleaved, medians.  Target: minc <= 0.5x MINCS.  MINCS is not part of
// this project: point MINCS_SRC at a checkout of github mhiramat/mincs
// (its `minc` script and libexec/); without one this figure is skipped.
// BENCH_ROUNDS (default 30) and BENCH_WARMUP (default 3) change the counts.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 30);
const WARMUP = Number(process.env.BENCH_WARMUP ?? 3);
const SRC = process.env.MINCS_SRC;

if (!SRC || !existsSync(`${SRC}/minc`)) {
  console.log('\nminc true against MINCS: skipped (set MINCS_SRC to a checkout of github mhiramat/mincs)');
  process.exit(0);
}
if (process.getuid?.() !== 0) {
  console.error('bench: minc and MINCS need root (try: sudo npm run bench)');
  process.exit(2);
}
const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'NODE_EXTRA_CA_CERTS' && !k.startsWith('MINC_')));
const cmds = [
  { key: 'minc', label: 'minc true (this project)', line: `${ROOT}bin/minc true` },
  { key: 'mincs', label: "MINCS's minc true", line: `${SRC}/minc true` },
];
function once(c) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync('script', ['-qec', c.line, '/dev/null'], { env, stdio: ['ignore', 'ignore', 'pipe'], cwd: '/' });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) {
    console.error(`bench: '${c.label}' failed (status ${r.status}): ${r.stderr}`);
    process.exit(1);
  }
  return ms;
}
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const times = { minc: [], mincs: [] };
for (let i = 0; i < WARMUP + ROUNDS; i++) {
  for (const c of i % 2 ? [...cmds].reverse() : cmds) {
    const ms = once(c);
    if (i >= WARMUP) times[c.key].push(ms);
  }
}
const a = median(times.minc);
const b = median(times.mincs);
console.log(`\nminc true against MINCS, on a pty (${ROUNDS} interleaved rounds, medians)`);
for (const c of cmds) console.log(`  ${c.label.padEnd(26)} ${median(times[c.key]).toFixed(1)} ms`);
console.log(`  ratio ${(a / b).toFixed(2)} (target <= 0.5: ${a / b <= 0.5 ? 'met' : 'NOT met'})`);
