/** marten diff and commit of a rootless container, run again in the user's mapped namespace (src/rootless/rerun.ts). */
import { rerunMapped as rerun } from '../rootless/rerun.js';
import type { Store } from './store.js';

/** This marten with argv in the user's mapped namespace, on the same store: its exit status, or null when there is no need. */
export const rerunMapped = (store: Store, argv: readonly string[]): number | null => rerun(argv, { ...process.env, MINCS_DIR: store.dir });
