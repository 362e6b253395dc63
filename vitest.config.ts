import { defineConfig } from 'vitest/config';

// The end-to-end tests start real containers and need root.  Without root
// only the unit tests run (and say so); .ci/run runs as root and fails if
// any end-to-end test did not run.
const root = process.getuid?.() === 0;
if (!root) {
  console.warn('vitest: not root: running the unit tests only (run `sudo npm test` for the end-to-end tests too)');
}

export default defineConfig({
  test: {
    include: root ? ['test/**/*.test.ts'] : ['test/unit/**/*.test.ts'],
    pool: 'forks',
    // end-to-end tests start containers: two files at a time on these 2-core machines
    maxWorkers: 2,
    minWorkers: 1,
    testTimeout: 60_000,
    hookTimeout: 120_000,
    globalSetup: ['test/helpers/global-setup.ts'],
  },
});
