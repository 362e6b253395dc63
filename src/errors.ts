/**
 * One error class for everything minc reports (execa's style): it carries the
 * failed command, if any, and the cause; context is added at each level
 * (runc's style: "mounting X at Y: ...").
 */
export class MincError extends Error {
  readonly command?: readonly string[];
  /** exit status minc ends with */
  readonly status: number;

  constructor(message: string, opts: { command?: readonly string[]; cause?: unknown; status?: number } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'MincError';
    this.command = opts.command;
    this.status = opts.status ?? 1;
  }
}

/** Bad input: an option, argument or environment minc cannot work with (status 2). */
export class UsageError extends MincError {
  constructor(message: string) {
    super(message, { status: 2 });
    this.name = 'UsageError';
  }
}

/** Wrap err with context: `context: original message`. */
export function withContext(context: string, err: unknown): MincError {
  if (err instanceof MincError) {
    return new MincError(`${context}: ${err.message}`, { command: err.command, cause: err, status: err.status });
  }
  const msg = err instanceof Error ? err.message : String(err);
  return new MincError(`${context}: ${msg}`, { cause: err });
}
