/**
 * import() of an npm package from minc's bundle.  bin/minc runs the bundle as
 * a vm.Script (src/cli/load.ts: for V8's code cache), where an import() of its
 * own would need node's experimental main-context loader; the loader passes
 * its own import() in as __minc_import instead.  Loaded any other way (tests,
 * marten), this is a plain import().
 */
declare const __minc_import: ((specifier: string) => Promise<unknown>) | undefined;

export function importPackage<T>(specifier: string): Promise<T> {
  return (typeof __minc_import === 'function' ? __minc_import(specifier) : import(specifier)) as Promise<T>;
}
