/**
 * process.binding(NAME): the native handles node's own modules wrap
 * (src/run/spawn.ts, src/run/tty.ts use process_wrap and tty_wrap to skip
 * loading node:child_process and node:net).  It is a documentation-only
 * deprecation (DEP0111) that warns only under --pending-deprecation; there,
 * and where a node does not expose NAME, this gives undefined and the callers
 * use the public module instead.
 */
export function pendingDeprecation(env: NodeJS.ProcessEnv = process.env, execArgv: readonly string[] = process.execArgv): boolean {
  return env.NODE_PENDING_DEPRECATION === '1' || execArgv.includes('--pending-deprecation') || /(^|\s)--pending-deprecation(\s|$)/.test(env.NODE_OPTIONS ?? '');
}

export function quietBinding<T>(name: string): T | undefined {
  if (pendingDeprecation()) return undefined;
  try {
    return (process as unknown as { binding?: (name: string) => T }).binding?.(name);
  } catch {
    return undefined;
  }
}
