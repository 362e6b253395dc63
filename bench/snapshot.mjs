// npm run bench: is a V8 startup snapshot of minc's bundle a gain over how
// bin/minc starts now (dist/minc.cjs compiled with its V8 code cache,
// src/cli/load.ts)?  Issue 12 asks for the figure.
//
// The snapshot is built from dist/minc.cjs as it is, with its last statement
// (main(process.argv.slice(2))) moved into v8.startupSnapshot's deserialize
// main function: the snapshot holds the whole bundle evaluated (every module
// body run, every constant made), and a run only calls main.  It is started
// as `node --snapshot-blob BLOB bin/minc ARGS` (the script word is only
// process.argv[1] then: nothing is read from it).
//
//   minc true (code cache)     bin/minc true, as users run it
//   minc true (snapshot)       node --snapshot-blob BLOB bin/minc true
//   node -e 0                  node's own start
//   node --snapshot-blob EMPTY a snapshot of nothing: what deserializing costs by itself
//
// Interleaved (round-robin, the starting command rotating), medians, after
// warm-up rounds.  BENCH_ROUNDS (default 30), BENCH_WARMUP (default 3).
// It measures bin/minc as built: run `npm run build` first.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 30);
const WARMUP = Number(process.env.BENCH_WARMUP ?? 3);
if (process.getuid?.() !== 0) {
  console.error('bench: minc needs root (try: sudo npm run bench)');
  process.exit(2);
}
// users do not have NODE_EXTRA_CA_CERTS (it adds ~140 ms to every node start); no MINC_* either
const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'NODE_EXTRA_CA_CERTS' && !k.startsWith('MINC_')));

/** dist/minc.cjs as a snapshot entry: the bundle evaluated, its main left for the deserialize main function. */
export function snapshotEntry(bundle, distFile) {
  const call = 'var argv = process.argv.slice(2);\nmain(argv).then(';
  const at = bundle.lastIndexOf(call);
  const end = bundle.lastIndexOf('\n);\n');
  if (at < 0 || end < at) throw new Error('dist/minc.cjs does not end in main(argv).then(...): the bench needs updating');
  // import.meta.url (where.ts finds libexec/ from it) is the bundle's own path, not the entry's
  const banner = "const __minc_import_meta_url = require('node:url').pathToFileURL(__filename).href;";
  if (!bundle.startsWith(banner)) throw new Error("dist/minc.cjs does not start with build.mjs's banner: the bench needs updating");
  return `const __minc_import_meta_url = ${JSON.stringify(`file://${distFile}`)};${bundle.slice(banner.length, at)}`
    + `require('node:v8').startupSnapshot.setDeserializeMainFunction(() => {\n${bundle.slice(at, end)}\n);\n});\n`;
}

const work = mkdtempSync('/var/tmp/minc-bench-snapshot-');
try {
  const dist = join(ROOT, 'dist/minc.cjs');
  writeFileSync(join(work, 'entry.cjs'), snapshotEntry(readFileSync(dist, 'utf8'), dist));
  writeFileSync(join(work, 'empty.cjs'), "require('node:v8').startupSnapshot.setDeserializeMainFunction(() => {});\n");
  for (const name of ['entry', 'empty']) {
    const t0 = process.hrtime.bigint();
    const r = spawnSync(process.execPath, ['--snapshot-blob', join(work, `${name}.blob`), '--build-snapshot', join(work, `${name}.cjs`)], { env, encoding: 'utf8' });
    if (r.status !== 0) {
      console.error(`bench: building the ${name} snapshot failed: ${r.stderr}`);
      process.exit(1);
    }
    if (name === 'entry') console.log(`snapshot of dist/minc.cjs: built in ${(Number(process.hrtime.bigint() - t0) / 1e6).toFixed(0)} ms, ${(statSync(join(work, 'entry.blob')).size / 1e6).toFixed(1)} MB`);
  }
  const minc = join(ROOT, 'bin/minc');
  const cmds = [
    { key: 'cache', label: 'minc true (code cache)', argv: [minc, 'true'] },
    { key: 'snap', label: 'minc true (snapshot)', argv: [process.execPath, '--snapshot-blob', join(work, 'entry.blob'), minc, 'true'] },
    { key: 'node', label: 'node -e 0', argv: [process.execPath, '-e', '0'] },
    { key: 'empty', label: 'node --snapshot-blob EMPTY', argv: [process.execPath, '--snapshot-blob', join(work, 'empty.blob')] },
  ];
  const times = Object.fromEntries(cmds.map((c) => [c.key, []]));
  for (let round = 0; round < WARMUP + ROUNDS; round++) {
    for (let j = 0; j < cmds.length; j++) {
      const c = cmds[(round + j) % cmds.length];
      const t0 = process.hrtime.bigint();
      const r = spawnSync(c.argv[0], c.argv.slice(1), { env, stdio: ['ignore', 'ignore', 'pipe'], cwd: ROOT });
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      if (r.status !== 0) {
        console.error(`bench: '${c.label}' failed (status ${r.status}): ${r.stderr}`);
        process.exit(1);
      }
      if (round >= WARMUP) times[c.key].push(ms);
    }
  }
  const median = (xs) => {
    const s = [...xs].sort((a, b) => a - b);
    return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  };
  const med = Object.fromEntries(cmds.map((c) => [c.key, median(times[c.key])]));
  console.log(`\nV8 startup snapshot of minc's run path (${ROUNDS} interleaved rounds, medians, min)`);
  for (const c of cmds) console.log(`  ${c.label.padEnd(28)} ${med[c.key].toFixed(1).padStart(6)} ms  ${Math.min(...times[c.key]).toFixed(1).padStart(6)} ms`);
  const gain = med.cache - med.snap;
  console.log(`  snapshot against code cache: ${gain >= 0 ? '' : '+'}${(-gain).toFixed(1)} ms (ratio ${(med.snap / med.cache).toFixed(2)}); an empty snapshot against node -e 0: ${(med.empty - med.node).toFixed(1)} ms`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
