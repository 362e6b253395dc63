// node bench/net.mjs: what the network costs (issue 4), measured in a network
// namespace this bench makes (the host's interfaces and iptables stay as
// they are); minc enters it with nsenter, for every command alike.
//
//   minc true                      no network
//   minc --net true                a new, empty network namespace
//   minc --net dens true           alone: creates and removes the bridge and base NAT rules
//   minc --net dens true (bridge up)  another container holds the bridge: the per-container cost
//   20 concurrent --net dens       wall time, against 10 sequential ones
//
// Target: --net dens adds <= 30 ms per container; 20 concurrent runs finish
// in less than 10 sequential ones.  Build first (npm run build).
// BENCH_ROUNDS (default 20) and BENCH_WARMUP (default 2) change the counts.
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const MINC = `${ROOT}bin/minc`;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 20);
const WARMUP = Number(process.env.BENCH_WARMUP ?? 2);

if (process.getuid?.() !== 0) {
  console.error('bench: minc needs root (try: sudo node bench/net.mjs)');
  process.exit(2);
}

// users do not have NODE_EXTRA_CA_CERTS (it adds ~140 ms to every node start); no MINC_* either
const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'NODE_EXTRA_CA_CERTS' && !k.startsWith('MINC_')));

const NS = `mbench${process.pid}`;
execFileSync('ip', ['netns', 'add', NS]);
const ino = execFileSync('ip', ['netns', 'exec', NS, 'stat', '-L', '-c', '%i', '/proc/self/ns/net'], { encoding: 'utf8' }).trim();
const inNs = (args) => ['nsenter', `--net=/run/netns/${NS}`, '--', MINC, ...args];

const started = new Set();
let holder = null;

function cleanup() {
  if (holder) holder.kill('SIGTERM');
  try {
    execFileSync('ip', ['netns', 'del', NS]);
  } catch {
    /* gone */
  }
  rmSync(`/run/mincs/net/${ino}`, { recursive: true, force: true });
}
process.on('exit', cleanup);
process.on('SIGINT', () => process.exit(130));

function run(argv) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(argv[0], argv.slice(1), { env, stdio: ['ignore', 'ignore', 'pipe'], cwd: ROOT });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.pid) started.add(r.pid);
  if (r.error || r.status !== 0) {
    console.error(`bench: '${argv.join(' ')}' failed (status ${r.status}): ${r.error?.message ?? r.stderr}`);
    process.exit(1);
  }
  return ms;
}

/** Wall time of argvs started at once. */
function concurrently(argvs) {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    let left = argvs.length;
    for (const argv of argvs) {
      const c = spawn(argv[0], argv.slice(1), { env, stdio: ['ignore', 'ignore', 'inherit'], cwd: ROOT });
      if (c.pid) started.add(c.pid);
      c.on('exit', (code) => {
        if (code !== 0) reject(new Error(`'${argv.join(' ')}' failed (status ${code})`));
        if (--left === 0) resolve(Number(process.hrtime.bigint() - t0) / 1e6);
      });
    }
  });
}

const quantile = (xs, q) => {
  const s = [...xs].sort((a, b) => a - b);
  const i = (s.length - 1) * q;
  const lo = Math.floor(i);
  return s[lo] + (s[Math.ceil(i)] - s[lo]) * (i - lo);
};
const f = (ms) => `${ms.toFixed(1).padStart(8)} ms`;

const COMMANDS = [
  { key: 'plain', label: 'minc true', argv: inNs(['true']) },
  { key: 'raw', label: 'minc --net true', argv: inNs(['--net', 'true']) },
  { key: 'dens', label: 'minc --net dens true', argv: inNs(['--net', 'dens', 'true']) },
];

// 1. alone, interleaved
const times = Object.fromEntries(COMMANDS.map((c) => [c.key, []]));
for (let round = 0; round < WARMUP + ROUNDS; round++) {
  for (let j = 0; j < COMMANDS.length; j++) {
    const c = COMMANDS[(round + j) % COMMANDS.length];
    const ms = run(c.argv);
    if (round >= WARMUP) times[c.key].push(ms);
  }
}

// 2. with the bridge held up by a long-running container: what each further container costs
const hold = inNs(['--net', 'dens', 'sleep', '600']);
holder = spawn(hold[0], hold.slice(1), { env, stdio: 'ignore' });
if (holder.pid) started.add(holder.pid);
const leases = () => {
  try {
    return readdirSync(`/run/mincs/net/${ino}/leases`).length;
  } catch {
    return 0;
  }
};
for (let i = 0; i < 500 && leases() === 0; i++) await new Promise((r) => setTimeout(r, 10));
await new Promise((r) => setTimeout(r, 300));
times.held = [];
times.plainHeld = [];
for (let round = 0; round < WARMUP + ROUNDS; round++) {
  const a = run(COMMANDS[0].argv);
  const b = run(COMMANDS[2].argv);
  if (round >= WARMUP) {
    times.plainHeld.push(a);
    times.held.push(b);
  }
}
holder.kill('SIGTERM');
await new Promise((r) => holder.on('exit', r));
holder = null;

// 3. 20 concurrent against 10 sequential
const dens = COMMANDS[2].argv;
const seqStart = process.hrtime.bigint();
for (let i = 0; i < 10; i++) run(dens);
const seq10 = Number(process.hrtime.bigint() - seqStart) / 1e6;
const conc20 = await concurrently(Array.from({ length: 20 }, () => dens));

const med = (k) => quantile(times[k], 0.5);
console.log(`${ROUNDS} rounds (after ${WARMUP} warm-up), interleaved, in network namespace ${NS}; node ${process.version}, ${new Date().toISOString()}`);
console.log(`${'command'.padEnd(40)}  median        p25         p75`);
const row = (label, k) => console.log(`${label.padEnd(40)}${f(med(k))} ${f(quantile(times[k], 0.25))} ${f(quantile(times[k], 0.75))}`);
row('minc true', 'plain');
row('minc --net true', 'raw');
row('minc --net dens true (alone: bridge up+down)', 'dens');
row('minc true (another dens container up)', 'plainHeld');
row('minc --net dens true (bridge held up)', 'held');
const perContainer = med('held') - med('plainHeld');
console.log('');
console.log(`--net dens adds: ${(med('dens') - med('plain')).toFixed(1)} ms alone (bridge and base rules made and removed), ${perContainer.toFixed(1)} ms per container with the bridge up: target <= 30 ms: ${perContainer <= 30 ? 'MET' : 'MISSED'}`);
console.log(`20 concurrent --net dens: ${conc20.toFixed(0)} ms; 10 sequential: ${seq10.toFixed(0)} ms: target 20 concurrent < 10 sequential: ${conc20 < seq10 ? 'MET' : 'MISSED'}`);

// nothing of ours is left: temp dirs, leases, named netns, links in the bench namespace
const ours = (n) => [...started].some((p) => n.startsWith(`minc${p}-`));
const left = [
  ...['/run', '/dev/shm'].flatMap((b) => readdirSync(b).filter(ours).map((n) => `${b}/${n}`)),
  ...(existsSync('/run/netns') ? readdirSync('/run/netns').filter(ours).map((n) => `/run/netns/${n}`) : []),
  ...(leases() ? [`${leases()} leases`] : []),
];
await new Promise((r) => setTimeout(r, 500));
const links = execFileSync('ip', ['-n', NS, '-o', 'link', 'show'], { encoding: 'utf8' }).split('\n').filter((l) => l && !/: lo:/.test(l));
if (left.length || links.length) {
  console.error(`bench: left behind:\n  ${[...left, ...links].join('\n  ')}`);
  process.exit(1);
}
