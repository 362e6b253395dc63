/**
 * Running a piece of src/ in a child node process (for what depends on the
 * process itself: its descriptors, its uid).  The snippet is TypeScript that
 * may import from src/ by path relative to the repository root; esbuild
 * bundles it into a temporary .mjs, which a plain `node` runs.
 */
import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

export const ROOT = fileURLToPath(new URL('../../..', import.meta.url));

/** Bundle `code` (imports like './src/run/fds.js' resolve from the repository root) to a temporary .mjs. */
export async function bundleSnippet(code: string): Promise<{ file: string; remove: () => void }> {
  const dir = mkdtempSync(join(tmpdir(), 'minc-unit-'));
  const file = join(dir, 'snippet.mjs');
  await build({
    stdin: { contents: code, resolveDir: ROOT, sourcefile: 'snippet.ts', loader: 'ts' },
    outfile: file,
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    packages: 'external',
    logLevel: 'silent',
  });
  return { file, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Environment without the CA bundle variable (it slows node's start) and without MINC_*. */
export function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'NODE_EXTRA_CA_CERTS' && !k.startsWith('MINC_')));
  return { ...env, ...extra };
}

/** Run a bundled snippet with node; returns its status and output. */
export function runNode(file: string, args: readonly string[] = [], opts: SpawnSyncOptions = {}): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [file, ...args], { encoding: 'utf8', env: cleanEnv(), timeout: 30_000, ...opts });
  return { status: r.status, stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? '') };
}
