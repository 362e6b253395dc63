// npm run bench: `minc -r IMAGE true` against `minc -r DIR true` (issue 12):
// the same busybox root as a directory and as an image in a private store,
// interleaved, medians.  Target: the image within 1.1x of the directory.
// BENCH_ROUNDS (default 30) and BENCH_WARMUP (default 3) change the counts.
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 30);
const WARMUP = Number(process.env.BENCH_WARMUP ?? 3);
if (process.getuid?.() !== 0) {
  console.error('bench: minc needs root (try: sudo npm run bench)');
  process.exit(2);
}
const work = mkdtempSync('/var/tmp/minc-bench-image-');
const store = join(work, 'store');
const env = { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'NODE_EXTRA_CA_CERTS' && !k.startsWith('MINC_'))), MINCS_DIR: store };
try {
  const dir = join(work, 'rootfs');
  for (const d of ['bin', 'etc', 'tmp', 'proc', 'sys', 'dev', 'run']) mkdirSync(join(dir, d), { recursive: true });
  copyFileSync('/bin/busybox', join(dir, 'bin/busybox'));
  execFileSync('chmod', ['755', join(dir, 'bin/busybox')]);
  for (const a of ['sh', 'true']) symlinkSync('busybox', join(dir, 'bin', a));
  writeFileSync(join(dir, 'etc/passwd'), 'root:x:0:0:root:/:/bin/sh\n');
  execFileSync(`${ROOT}bin/marten`, ['import', dir, '--name', 'benchbox'], { env, stdio: 'ignore' });
  const cmds = [
    { key: 'dir', label: 'minc -r DIR true', argv: ['-r', dir, 'true'] },
    { key: 'image', label: 'minc --rm -r IMAGE true', argv: ['--rm', '-r', 'benchbox', 'true'] },
  ];
  const times = { dir: [], image: [] };
  for (let i = 0; i < WARMUP + ROUNDS; i++) {
    for (const c of i % 2 ? [...cmds].reverse() : cmds) {
      const t0 = process.hrtime.bigint();
      const r = spawnSync(`${ROOT}bin/minc`, c.argv, { env, stdio: ['ignore', 'ignore', 'pipe'] });
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      if (r.status !== 0) {
        console.error(`bench: '${c.label}' failed: ${r.stderr}`);
        process.exit(1);
      }
      if (i >= WARMUP) times[c.key].push(ms);
    }
  }
  const median = (xs) => {
    const s = [...xs].sort((a, b) => a - b);
    return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  };
  const a = median(times.image);
  const b = median(times.dir);
  console.log(`\nminc -r IMAGE against minc -r DIR (${ROUNDS} interleaved rounds, medians)`);
  for (const c of cmds) console.log(`  ${c.label.padEnd(24)} ${median(times[c.key]).toFixed(1)} ms`);
  console.log(`  ratio ${(a / b).toFixed(2)} (target <= 1.1: ${a / b <= 1.1 ? 'met' : 'NOT met'})`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
