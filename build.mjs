// Bundles src/ into dist/ (one file per entry; dependencies stay in
// node_modules and are imported lazily off the hot path).
import { build } from 'esbuild';

await build({
  entryPoints: { minc: 'src/cli/minc.ts' },
  outdir: 'dist',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  packages: 'external',
  chunkNames: 'chunks/[name]-[hash]',
  sourcemap: true,
  logLevel: 'warning',
});
