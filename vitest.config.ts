import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 600_000,
    // The lab is one shared set of nodes: end-to-end files must not run concurrently.
    fileParallelism: false,
  },
});
