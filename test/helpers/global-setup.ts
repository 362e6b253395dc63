/** Build dist/ once before the tests, so the end-to-end tests run what users run. */
import { execFileSync } from 'node:child_process';

export default function setup(): void {
  execFileSync(process.execPath, ['build.mjs'], { cwd: new URL('../..', import.meta.url).pathname, stdio: 'inherit' });
}
