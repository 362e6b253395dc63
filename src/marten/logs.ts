/** marten logs RUN: what a background run (minc -B) wrote to its temp dir's log (stdout) and debug (stderr) files. */
import { closeSync, constants, createReadStream, existsSync, fstatSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { MincError } from '../errors.js';
import { findRun } from '../run/background.js';

/** Copy file to out; the file is opened without following a link (a kept dir is data). */
function copy(file: string, out: NodeJS.WritableStream): Promise<void> {
  return new Promise((resolve, reject) => {
    let fd: number;
    try {
      fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    } catch (err) {
      reject(new MincError(`${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`));
      return;
    }
    if (!fstatSync(fd).isFile()) {
      closeSync(fd);
      reject(new MincError(`${file} is not a regular file`));
      return;
    }
    const s = createReadStream('', { fd });
    s.on('error', (err) => reject(new MincError(`${file}: ${(err as NodeJS.ErrnoException).code ?? err.message}`)));
    s.on('end', () => resolve());
    s.pipe(out, { end: false });
  });
}

export async function showLogs(target: string): Promise<void> {
  const dir = findRun(target, 'logs');
  const log = join(dir, 'log');
  if (!existsSync(log)) throw new MincError(`logs '${target}': ${dir} has no log: it is not a background run (minc -B)`);
  await copy(log, process.stdout);
  const debug = join(dir, 'debug');
  if (existsSync(debug)) await copy(debug, process.stderr);
}
