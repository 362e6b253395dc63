/**
 * The bundle's side of bin/minc's loader (src/cli/load.ts), which runs
 * dist/minc.cjs as a vm.Script for V8's code cache and passes it __minc_loader:
 *   - import(): a vm.Script has none of its own (short of node's experimental
 *     main-context loader), so packages are imported through the loader's;
 *   - ranContainer(): this run went through a whole container run, so the
 *     functions of that path are compiled now: a cache written at its end
 *     holds them (one written by `minc --help` first would not).
 * Loaded any other way (tests, marten), import() is the plain one and the
 * hint goes nowhere.
 */
interface Loader {
  import(specifier: string): Promise<unknown>;
  ranContainer(): void;
}

declare const __minc_loader: Loader | undefined;

const loader = (): Loader | undefined => (typeof __minc_loader === 'object' ? __minc_loader : undefined);

export function importPackage<T>(specifier: string): Promise<T> {
  return (loader()?.import(specifier) ?? import(specifier)) as Promise<T>;
}

export function ranContainer(): void {
  loader()?.ranContainer();
}
