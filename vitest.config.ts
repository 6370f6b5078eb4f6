import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    // Timeouts catch hangs; they are not speed limits. A loaded 2-core machine of the kind CI runs
    // on can be 2-4x slower than another one of the same kind (30 lab nodes and ten provisioners
    // pushed the load average to 37), so these sit far above what any such machine needs.
    // Speed is measured in the bench (npm run bench), never here.
    testTimeout: 600_000,
    hookTimeout: 1_200_000,
    // The lab is one shared set of nodes: end-to-end files must not run concurrently.
    fileParallelism: false,
  },
});
