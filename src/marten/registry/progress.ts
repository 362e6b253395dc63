/** Progress of layer transfers: a bar per layer on a terminal (cli-progress), plain lines otherwise. */
import { isatty } from 'node:tty';
import type { SingleBar } from 'cli-progress';
import { humanSize } from '../util.js';

export interface Progress {
  /** a transfer of total bytes, or of a size not known yet (null: a layer gzipped as it is pushed): a tick function */
  add(id: string, total: number | null): (bytes: number) => void;
  done(id: string, what: string): void;
  stop(): void;
}

const short = (digest: string): string => digest.replace(/^sha256:/, '').slice(0, 12);

export async function makeProgress(verb: string): Promise<Progress> {
  if (!isatty(2)) {
    return {
      add: (id, total) => {
        process.stderr.write(`marten: ${short(id)}: ${verb} ${total === null ? '(packing)' : humanSize(total)}\n`);
        return () => undefined;
      },
      done: (id, what) => void process.stderr.write(`marten: ${short(id)}: ${what}\n`),
      stop: () => undefined,
    };
  }
  const { MultiBar, Presets } = await import('cli-progress');
  const multi = new MultiBar({
    format: `{id} ${verb} [{bar}] {percentage}% {done}/{size} {state}`,
    hideCursor: true,
    clearOnComplete: false,
    stream: process.stderr,
  }, Presets.shades_classic);
  const bars = new Map<string, SingleBar>();
  return {
    add: (id, total) => {
      // a size not known yet: no bar, the bytes so far
      const bar = total === null
        ? multi.create(1, 0, { id: short(id), done: humanSize(0), state: '(packing)' }, { format: `{id} ${verb} {done} {state}` })
        : multi.create(Math.max(total, 1), 0, { id: short(id), size: humanSize(total), done: humanSize(0), state: '' });
      bars.set(id, bar);
      let n = 0;
      return (bytes) => {
        n += bytes;
        bar.update(total === null ? 0 : Math.min(n, Math.max(total, 1)), { done: humanSize(n) });
      };
    },
    done: (id, what) => {
      const bar = bars.get(id);
      if (bar) bar.update(bar.getTotal(), { state: what });
      else process.stderr.write(`marten: ${short(id)}: ${what}\n`);
    },
    stop: () => multi.stop(),
  };
}
