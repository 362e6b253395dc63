/**
 * bin/minc starts its bundle (dist/minc.cjs) through here, as node's CommonJS
 * loader would, but compiled with V8's code cache: compiling the ~100 KB
 * bundle, and then each function it calls, costs about 5 ms of every run, the
 * biggest share of what minc adds to node's own start.
 *
 * The cache is dist/.NAME.<node version>.<size>.<mtime>[.run].v8cache: a
 * rebuilt bundle or another node gets a new one, and V8 itself refuses a cache
 * of other flags.  A run that found none, or had it refused, writes one when
 * it ends; so does the first run that went through a whole container
 * (src/cli/loaded.ts ranContainer), as .run.v8cache, since a cache holds the
 * functions the run that wrote it had compiled (one written by `minc --help`
 * lacks those of a container run).  Writes go through a temp file and a
 * rename, so concurrent runs never see half of one.  Where dist/ is not
 * writable the bundle simply compiles as usual.
 */
import { readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Script } from 'node:vm';

/** The cache file of dist/NAME.cjs as it is now, for this node. */
export function cacheName(name: string, size: number, mtimeMs: number, run: boolean, version = process.version): string {
  return `.${name}.${version}.${size}.${Math.trunc(mtimeMs)}${run ? '.run' : ''}.v8cache`;
}

/** Remove the caches of earlier builds or nodes (build.mjs, and a run that writes a new one). */
export function removeStaleCaches(dir: string, name: string, keep?: string): void {
  for (const f of readdirSync(dir)) {
    if (f.startsWith(`.${name}.`) && f.endsWith('.v8cache') && f !== keep) {
      try {
        unlinkSync(join(dir, f));
      } catch {
        /* another run removed it */
      }
    }
  }
}

function writeCache(dir: string, name: string, file: string, script: Script): void {
  const tmp = join(dir, `${file}.${process.pid}.tmp`);
  try {
    writeFileSync(tmp, script.createCachedData());
    renameSync(tmp, join(dir, file));
    removeStaleCaches(dir, name, file);
  } catch {
    try {
      unlinkSync(tmp);
    } catch {
      /* never written */
    }
  }
}

/**
 * Run dist/NAME.cjs with its code cache.  This file is dist/load.cjs: its own
 * __dirname and require are the bundle's (externals resolve from dist/).
 */
export function load(name: string, dir = __dirname, req: NodeJS.Require = require): void {
  const file = join(dir, `${name}.cjs`);
  const source = readFileSync(file, 'utf8');
  const st = statSync(file);
  const cacheFile = (run: boolean): string => cacheName(name, st.size, st.mtimeMs, run);
  const read = (f: string): Buffer | undefined => {
    try {
      return readFileSync(join(dir, f));
    } catch {
      return undefined; // none yet
    }
  };
  let hadRun = true;
  let cachedData = read(cacheFile(true));
  if (!cachedData) {
    hadRun = false;
    cachedData = read(cacheFile(false));
  }
  // the bundle's __minc_loader (src/cli/loaded.ts): a vm.Script has no
  // import() of its own (short of node's experimental main-context loader)
  let ran = false;
  const loader = {
    import: (specifier: string): Promise<unknown> => import(specifier),
    ranContainer: (): void => {
      ran = true;
    },
  };
  const script = new Script(`(function (exports, require, module, __filename, __dirname, __minc_loader) {${source}\n})`, {
    filename: file,
    cachedData,
  });
  const missing = cachedData === undefined || script.cachedDataRejected === true;
  process.once('exit', () => {
    if (ran && (!hadRun || missing)) writeCache(dir, name, cacheFile(true), script);
    else if (missing && !hadRun) writeCache(dir, name, cacheFile(false), script);
  });
  const module = { exports: {} };
  (script.runInThisContext() as (...args: unknown[]) => void)(module.exports, req, module, file, dir, loader);
}
