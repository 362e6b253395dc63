// node bench/cross.mjs: what --cross costs (issue 14), on an arm64 busybox
// root made here from Debian's busybox-static:arm64 (.ci/run caches its .deb
// in /var/cache/mincs-test; else apt-get download, after dpkg
// --add-architecture arm64).
//
//   minc -r DIR true                    the host's busybox: no interpreter
//   minc --cross arm64 -r DIR true      the user namespace, its binfmt_misc, and qemu-aarch64 starting busybox
//
// Build first (npm run build).  BENCH_ROUNDS (default 20) and BENCH_WARMUP
// (default 2) change the counts.
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const MINC = `${ROOT}bin/minc`;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 20);
const WARMUP = Number(process.env.BENCH_WARMUP ?? 2);
const CACHE = '/var/cache/mincs-test';

if (process.getuid?.() !== 0) {
  console.error('bench: minc needs root (try: sudo node bench/cross.mjs)');
  process.exit(2);
}
const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'NODE_EXTRA_CA_CERTS' && !k.startsWith('MINC_')));

const scratch = mkdtempSync('/tmp/minc-bench-cross-');
process.on('exit', () => rmSync(scratch, { recursive: true, force: true }));
process.on('SIGINT', () => process.exit(130));

function rootfs(name, busybox) {
  const dir = join(scratch, name);
  for (const d of ['bin', 'etc', 'proc', 'sys', 'dev', 'tmp']) mkdirSync(join(dir, d), { recursive: true });
  copyFileSync(busybox, join(dir, 'bin/busybox'));
  symlinkSync('busybox', join(dir, 'bin/true'));
  return dir;
}

let deb = existsSync(CACHE) ? readdirSync(CACHE).find((n) => /^busybox-static_.*_arm64\.deb$/.test(n)) : undefined;
if (deb) deb = join(CACHE, deb);
else {
  execFileSync('apt-get', ['download', 'busybox-static:arm64'], { cwd: scratch, stdio: 'ignore' });
  deb = join(scratch, readdirSync(scratch).find((n) => n.endsWith('_arm64.deb')));
}
execFileSync('dpkg-deb', ['-x', deb, join(scratch, 'deb')]);
const arm64 = rootfs('arm64', join(scratch, 'deb/bin/busybox'));
const native = rootfs('native', '/bin/busybox');

function run(args) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(MINC, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.error || r.status !== 0) {
    console.error(`bench: 'minc ${args.join(' ')}' failed (status ${r.status}): ${r.error?.message ?? r.stderr}`);
    process.exit(1);
  }
  return ms;
}

function measure(label, args) {
  for (let i = 0; i < WARMUP; i++) run(args);
  const t = Array.from({ length: ROUNDS }, () => run(args)).sort((a, b) => a - b);
  const median = t[Math.floor(t.length / 2)];
  console.log(`${label.padEnd(40)} median ${median.toFixed(1)} ms  (min ${t[0].toFixed(1)}, max ${t.at(-1).toFixed(1)}, n=${t.length})`);
  return median;
}

console.log('bench/cross.mjs: --cross (qemu-user-static in binfmt_misc of the container\'s own user namespace)');
const a = measure('minc -r DIR true (host busybox)', ['-r', native, 'true']);
const b = measure('minc --cross arm64 -r DIR true', ['--cross', 'arm64', '-r', arm64, 'true']);
console.log(`--cross adds ${(b - a).toFixed(1)} ms`);
