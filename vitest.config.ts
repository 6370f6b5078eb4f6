import { defineConfig } from 'vitest/config';

/** End-to-end files that also run on the docker lab: the lab itself, the static job, and the DNS SRV case of modes. */
const ON_DOCKER = ['test/e2e/lab.test.ts', 'test/e2e/static.test.ts', 'test/e2e/modes.test.ts'];

export default defineConfig({
  test: {
    // Timeouts catch hangs; they are not speed limits. A loaded 2-core machine of the kind CI runs
    // on can be 2-4x slower than another one of the same kind (30 lab nodes and ten provisioners
    // pushed the load average to 37), so these sit far above what any such machine needs.
    // Speed is measured in the bench (npm run bench), never here.
    testTimeout: 600_000,
    hookTimeout: 1_200_000,
    // The lab is one shared set of nodes: end-to-end files must not run concurrently.
    fileParallelism: false,
    // Each project is one lab engine; its e2e files drive that engine's lab (PROVISION_LAB_ENGINE).
    // Projects run one after the other (groupOrder), never together.
    projects: [
      {
        extends: true,
        test: {
          name: 'nspawn',
          include: ['test/**/*.test.ts'],
          globalSetup: ['test/global-setup.ts'],
          env: { PROVISION_LAB_ENGINE: 'nspawn' },
          sequence: { groupOrder: 0 },
        },
      },
      {
        extends: true,
        test: {
          name: 'docker',
          include: ON_DOCKER,
          globalSetup: ['test/global-setup-docker.ts'],
          env: { PROVISION_LAB_ENGINE: 'docker' },
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
