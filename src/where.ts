/** Where minc is installed: the directory holding package.json and libexec/. */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'libexec', 'minc-stage'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('cannot find libexec/minc-stage next to minc');
    dir = up;
  }
  return dir;
}

export const PACKAGE_ROOT = packageRoot();
export const STAGE_PATH = join(PACKAGE_ROOT, 'libexec', 'minc-stage');
