// npm run bench: median wall time of `minc true` against its baselines,
// measured interleaved in one run (round-robin, the starting command rotating
// each round), after a few warm-up rounds.
//
//   minc true                  ./bin/minc true (as users run it)
//   node -e 0                  node's own start
//   handwritten true           bench/handwritten.sh: the same steps as one plain sh script
//   minimal true               bench/minimal.sh: the least a container needs (overlay, /dev, /proc, /tmp, pivot_root)
//   unshare -iumpf true        the namespaces alone
//
// Targets: minc true <= node -e 0 + handwritten script; minc true <= node -e 0 + minimal script.
// It measures bin/minc as built: run `npm run build` first.  The first
// container run after a build writes minc's V8 code cache (src/cli/load.ts):
// the warm-up rounds take that one-off cost, as a user's first run would.
// BENCH_ROUNDS (default 30) and BENCH_WARMUP (default 3) change the counts.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 30);
const WARMUP = Number(process.env.BENCH_WARMUP ?? 3);

if (process.getuid?.() !== 0) {
  console.error('bench: minc and unshare need root (try: sudo npm run bench)');
  process.exit(2);
}

// users do not have NODE_EXTRA_CA_CERTS (it adds ~140 ms to every node start); no MINC_* either
const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'NODE_EXTRA_CA_CERTS' && !k.startsWith('MINC_')));
// the scripts make their temp dirs where minc makes its own (a tmpfs: /run, else /dev/shm; src/run/tempdir.ts)
env.BENCH_TEMPBASE = spawnSync('stat', ['-f', '-c', '%T', '/run'], { encoding: 'utf8' }).stdout.trim() === 'tmpfs' ? '/run' : '/dev/shm';

const which = (name) => ['/usr/bin', '/bin', '/usr/sbin', '/sbin'].map((d) => `${d}/${name}`).find((p) => existsSync(p));

const COMMANDS = [
  { key: 'minc', label: 'minc true', argv: [`${ROOT}bin/minc`, 'true'] },
  { key: 'node', label: 'node -e 0', argv: [process.execPath, '-e', '0'] },
  { key: 'hand', label: 'sh bench/handwritten.sh true', argv: [which('sh'), `${ROOT}bench/handwritten.sh`, 'true'] },
  { key: 'min', label: 'sh bench/minimal.sh true', argv: [which('sh'), `${ROOT}bench/minimal.sh`, 'true'] },
  { key: 'unshare', label: 'unshare -iumpf true', argv: [which('unshare'), '-iumpf', 'true'] },
];

/** pids of the minc and script processes this bench started: their temp dirs are named after them */
const started = new Set();

/** Temp dirs under /run (minc<pid>-XXXXXX, handwritten<pid>-XXXXXX) of our runs, and mounts naming them. */
function leftovers() {
  const ours = (name) => {
    const m = /^(?:minc|handwritten|minimal)(\d+)-\w{6}$/.exec(name);
    return m !== null && started.has(Number(m[1]));
  };
  // (minc's temp dirs go to /dev/shm where /run is no tmpfs)
  const dirs = ['/run', '/dev/shm'].flatMap((b) => readdirSync(b).filter(ours).map((d) => `${b}/${d}`));
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n')
    .filter((l) => (/ \/(?:run|dev\/shm)\/((?:minc|handwritten|minimal)\d+-\w{6})/.exec(l) ?? []).slice(1).some(ours));
  return [...dirs, ...mounts];
}

function run(cmd) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd.argv[0], cmd.argv.slice(1), { env, stdio: ['ignore', 'ignore', 'pipe'], cwd: ROOT });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.pid) started.add(r.pid);
  if (r.error || r.status !== 0) {
    console.error(`bench: '${cmd.label}' failed (status ${r.status}${r.signal ? `, signal ${r.signal}` : ''}): ${r.error?.message ?? r.stderr}`);
    if (cmd.key === 'minc') console.error('bench: is minc built? (npm run build)');
    process.exit(1);
  }
  return ms;
}

const quantile = (xs, q) => {
  const s = [...xs].sort((a, b) => a - b);
  const i = (s.length - 1) * q;
  const lo = Math.floor(i);
  return s[lo] + (s[Math.ceil(i)] - s[lo]) * (i - lo);
};

const times = Object.fromEntries(COMMANDS.map((c) => [c.key, []]));
const total = WARMUP + ROUNDS;
for (let round = 0; round < total; round++) {
  for (let j = 0; j < COMMANDS.length; j++) {
    const cmd = COMMANDS[(round + j) % COMMANDS.length];
    const ms = run(cmd);
    if (round >= WARMUP) times[cmd.key].push(ms);
  }
}

const med = Object.fromEntries(COMMANDS.map((c) => [c.key, quantile(times[c.key], 0.5)]));
const f = (ms) => `${ms.toFixed(1).padStart(7)} ms`;
console.log(`${ROUNDS} rounds (after ${WARMUP} warm-up), interleaved; node ${process.version}, ${new Date().toISOString()}`);
console.log(`${'command'.padEnd(32)}  median       p25        p75        min`);
for (const c of COMMANDS) {
  const t = times[c.key];
  console.log(`${c.label.padEnd(32)}${f(med[c.key])} ${f(quantile(t, 0.25))} ${f(quantile(t, 0.75))} ${f(Math.min(...t))}`);
}
const budget = med.node + med.hand;
const ratio = med.minc / budget;
console.log('');
console.log(`target: minc true <= node -e 0 + handwritten script: ${med.minc.toFixed(1)} ms <= ${med.node.toFixed(1)} + ${med.hand.toFixed(1)} = ${budget.toFixed(1)} ms: ${med.minc <= budget ? 'MET' : 'MISSED'}`);
console.log(`ratio minc / (node + handwritten) = ${ratio.toFixed(2)}; minc - node = ${(med.minc - med.node).toFixed(1)} ms (handwritten: ${med.hand.toFixed(1)} ms)`);
const least = med.node + med.min;
console.log(`target: minc true <= node -e 0 + minimal script (bench/minimal.sh): ${med.minc.toFixed(1)} ms <= ${med.node.toFixed(1)} + ${med.min.toFixed(1)} = ${least.toFixed(1)} ms: ${med.minc <= least ? 'MET' : 'MISSED'} (ratio ${(med.minc / least).toFixed(2)})`);
// (the same ratio within each round, whose runs are next to each other: the machine's own drift over the bench moves
// all three alike; its median is less moved by it than the ratio of the medians)
const paired = quantile(times.minc.map((m, i) => m / (times.node[i] + times.min[i])), 0.5);
console.log(`  the median of each round's minc / (node + minimal): ${paired.toFixed(2)} (${paired <= 1 ? 'MET' : 'MISSED'})`);

const after = leftovers();
if (after.length > 0) {
  console.error(`bench: left behind:\n  ${after.join('\n  ')}`);
  process.exit(1);
}
