// npm run bench: what a run's temp dir costs (issue 12), on a tmpfs and on a
// disk (this machine's /run is ext4 mounted with `discard`).  Three phases,
// each timed alone, interleaved round-robin over the bases:
//
//   mkdtemp      mkdtemp(3) of minc<pid>-XXXXXX
//   files        what minc writes before the namespace (src/run/tempdir.ts,
//                src/run/container.ts renderFor): root/ storage/ work/, the
//                upper and work dir of each host mount shown, resolv.conf,
//                hosts, settings, the two mount tables, the five /dev links
//   removal      the walk src/run/rmtree.ts does, after an overlay was
//                mounted on the dir and unmounted again (as a run leaves it:
//                overlayfs's work/work and index, the links, the stage's
//                stderr file and pid)
//
// and then the whole `minc true` with its temp dir on each base
// (XDG_RUNTIME_DIR=BASE: minc uses it as it is, src/run/tempdir.ts tempBase).
// Medians and p75 in ms.  BENCH_ROUNDS (default 30), BENCH_WARMUP (default 3).
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmdirSync, statfsSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 30);
const WARMUP = Number(process.env.BENCH_WARMUP ?? 3);
if (process.getuid?.() !== 0) {
  console.error('bench: the overlay and minc need root (try: sudo npm run bench)');
  process.exit(2);
}
const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'NODE_EXTRA_CA_CERTS' && !k.startsWith('MINC_')));

const TMPFS = 0x01021994;
const fsName = (p) => {
  const t = statfsSync(p).type;
  return t === TMPFS ? 'tmpfs' : t === 0xef53 ? 'ext4' : `0x${t.toString(16)}`;
};
const opts = (p) => spawnSync('findmnt', ['-no', 'OPTIONS', '-T', p], { encoding: 'utf8' }).stdout.split('\n')[0];
// a tmpfs (/dev/shm, where minc puts its temp dirs on this machine) and /run as it is here
const bases = [...new Set(['/dev/shm', '/run'])].filter((b) => {
  try {
    return statfsSync(b) !== undefined;
  } catch {
    return false;
  }
});

/** The host mounts minc shows overlaid (each has an upper and a work dir under mounts/), as its dry run names them. */
const dry = spawnSync(join(ROOT, 'bin/minc'), ['--dry-run', 'true'], { env, encoding: 'utf8' });
if (dry.status !== 0) {
  console.error(`bench: minc --dry-run true failed (is minc built? npm run build): ${dry.stderr}`);
  process.exit(1);
}
const hostMounts = [...`${dry.stdout}${dry.stderr}`.matchAll(/upperdir=[^,]*\/mounts\/([^/,]+)\/upper/g)].map((m) => m[1]);

const ms = (t0) => Number(process.hrtime.bigint() - t0) / 1e6;

function writeFiles(dir) {
  for (const d of ['root', 'storage', 'work']) mkdirSync(join(dir, d));
  for (const name of hostMounts) for (const d of ['upper', 'work']) mkdirSync(join(dir, 'mounts', name, d), { recursive: true });
  writeFileSync(join(dir, 'resolv.conf'), readFileSync('/etc/resolv.conf'), { flag: 'wx', mode: 0o600 });
  writeFileSync(join(dir, 'hosts'), '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\tbench\n', { flag: 'wx', mode: 0o600 });
  writeFileSync(join(dir, 'settings'), `${JSON.stringify({ started: Date.now(), rootdir: '/', direct: false, keep: false, mincPid: process.pid, mincStart: 1 }, null, 1)}\n`, { flag: 'wx', mode: 0o600 });
  writeFileSync(join(dir, 'mounts.fstab'), 'x\n'.repeat(2), { flag: 'wx', mode: 0o600 });
  writeFileSync(join(dir, 'below.fstab'), 'x'.repeat(3000), { flag: 'wx', mode: 0o600 });
  mkdirSync(join(dir, 'devlinks'), { mode: 0o700 });
  for (const [t, l] of [['pts/ptmx', 'ptmx'], ['/proc/self/fd', 'fd'], ['/proc/self/fd/0', 'stdin'], ['/proc/self/fd/1', 'stdout'], ['/proc/self/fd/2', 'stderr']]) symlinkSync(t, join(dir, 'devlinks', l));
}

/** What a run leaves for the removal: an overlay mounted on the dir and unmounted, the stage's own files. */
function useAsRun(dir) {
  const r = spawnSync('unshare', ['--mount', 'sh', '-ec', 'mount -t overlay -o "lowerdir=/,upperdir=$1/storage,workdir=$1/work,volatile" o "$1/root"; umount "$1/root"', 'use', dir], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`bench: overlay on ${dir}: ${r.stderr}`);
  writeFileSync(join(dir, 'pid'), '1\n');
  writeFileSync(join(dir, 'steps.err'), '');
}

/** src/run/rmtree.ts's walk. */
function removeTree(path) {
  for (const e of readdirSync(path, { withFileTypes: true })) {
    const p = join(path, e.name);
    if (e.isDirectory()) removeTree(p);
    else unlinkSync(p);
  }
  rmdirSync(path);
}

const times = {};
const add = (k, v) => (times[k] ??= []).push(v);
for (let round = 0; round < WARMUP + ROUNDS; round++) {
  for (let j = 0; j < bases.length; j++) {
    const base = bases[(round + j) % bases.length];
    let t0 = process.hrtime.bigint();
    const dir = mkdtempSync(join(base, `minc${process.pid}-`));
    const a = ms(t0);
    t0 = process.hrtime.bigint();
    writeFiles(dir);
    const b = ms(t0);
    useAsRun(dir);
    t0 = process.hrtime.bigint();
    removeTree(dir);
    const c = ms(t0);
    // the whole run, its temp dir on this base
    t0 = process.hrtime.bigint();
    const r = spawnSync(join(ROOT, 'bin/minc'), ['true'], { env: { ...env, XDG_RUNTIME_DIR: base }, stdio: ['ignore', 'ignore', 'pipe'] });
    const d = ms(t0);
    if (r.status !== 0) {
      console.error(`bench: minc true with its temp dir on ${base} failed: ${r.stderr}`);
      process.exit(1);
    }
    if (round < WARMUP) continue;
    add(`${base} mkdtemp`, a);
    add(`${base} files`, b);
    add(`${base} removal`, c);
    add(`${base} minc true`, d);
  }
}
const q = (xs, p) => {
  const s = [...xs].sort((x, y) => x - y);
  const i = (s.length - 1) * p;
  return s[Math.floor(i)] + (s[Math.ceil(i)] - s[Math.floor(i)]) * (i - Math.floor(i));
};
console.log(`\nthe temp dir of a run (${ROUNDS} interleaved rounds; median, p75 in ms; ${hostMounts.length} host mount(s) overlaid)`);
console.log(`${'phase'.padEnd(12)}${bases.map((b) => `${b} (${fsName(b)})`.padStart(24)).join('')}`);
for (const phase of ['mkdtemp', 'files', 'removal', 'minc true']) {
  console.log(`${phase.padEnd(12)}${bases.map((b) => `${q(times[`${b} ${phase}`], 0.5).toFixed(2)}, ${q(times[`${b} ${phase}`], 0.75).toFixed(2)}`.padStart(24)).join('')}`);
}
for (const b of bases) console.log(`  ${b}: ${fsName(b)} ${opts(b)}`);
