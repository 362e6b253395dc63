// Bundles src/ into dist/: one CommonJS file per command.  Node 20 starts a
// CommonJS file ~10 ms sooner than an ES module, and minc's hot path is
// measured against `node -e 0`.  Dependencies stay in node_modules and are
// imported lazily (yargs, chalk) off the hot path.
import { readdirSync, unlinkSync } from 'node:fs';
import { build } from 'esbuild';

// the code caches of the bundles being replaced (src/cli/load.ts makes new ones)
try {
  for (const f of readdirSync('dist')) if (f.endsWith('.v8cache') || f.endsWith('.tmp')) unlinkSync(`dist/${f}`);
} catch {
  /* no dist/ yet */
}

await build({
  entryPoints: { minc: 'src/cli/minc.ts', marten: 'src/cli/marten.ts', polecat: 'src/polecat/cli.ts', load: 'src/cli/load.ts', docs: 'src/cli/docs.ts' },
  outdir: 'dist',
  outExtension: { '.js': '.cjs' },
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  packages: 'external',
  supported: { 'dynamic-import': true },
  define: { 'import.meta.url': '__minc_import_meta_url' },
  banner: { js: "const __minc_import_meta_url = require('node:url').pathToFileURL(__filename).href;" },
  sourcemap: true,
  logLevel: 'warning',
});

// man pages and shell completion from the option tables (src/cli/docs.ts)
await import('./dist/docs.cjs');
