import { defineConfig } from 'vitest/config';
import { E2E_WORKERS } from './test/lab-instances.js';
import { LongestFirst } from './test/sequencer.js';

/** End-to-end files that also run on the docker lab: the lab itself, the static job, and the DNS SRV case of modes. */
const ON_DOCKER = ['test/e2e/lab.test.ts', 'test/e2e/static.test.ts', 'test/e2e/modes.test.ts'];
/**
 * End-to-end files that run alone: docker-host.test.ts starts Docker, whose FORWARD policy would
 * cut off another lab instance's nodes mid-test; scale.test.ts brings up 30 nodes and ten
 * provision processes at once, and is not to be slowed down by another file.
 */
const ALONE = ['test/e2e/scale.test.ts', 'test/e2e/docker-host.test.ts'];
const alone = { poolOptions: { forks: { singleFork: true } } };

export default defineConfig({
  test: {
    // Timeouts catch hangs; they are not speed limits. A loaded 2-core machine of the kind CI runs
    // on can be 2-4x slower than another one of the same kind (30 lab nodes and ten provisioners
    // pushed the load average to 37), so these sit far above what any such machine needs.
    // Speed is measured in the bench (npm run bench), never here.
    testTimeout: 600_000,
    hookTimeout: 1_200_000,
    // Projects run one after the other (groupOrder), never together. Within the "nspawn" project
    // two end-to-end files run at once, each on its own lab instance (test/lab-per-worker.ts):
    // an end-to-end file keeps the machine about two-thirds busy, waiting on etcd and the nodes.
    // Every other project runs its files one at a time in one process (singleFork).
    pool: 'forks',
    // Longest end-to-end files first, so that two at a time end together (test/sequencer.ts).
    sequence: { sequencer: LongestFirst },
    poolOptions: { forks: { maxForks: E2E_WORKERS, minForks: 1 } },
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts', 'test/connection/**/*.test.ts'],
          globalSetup: ['test/global-setup.ts'],
          env: { PROVISION_LAB_ENGINE: 'nspawn' },
          sequence: { groupOrder: 0 },
          ...alone,
        },
      },
      {
        extends: true,
        test: {
          name: 'nspawn',
          include: ['test/e2e/**/*.test.ts'],
          exclude: ALONE,
          globalSetup: ['test/global-setup.ts'],
          setupFiles: ['test/lab-per-worker.ts'],
          env: { PROVISION_LAB_ENGINE: 'nspawn', PROVISION_TEST_LAB_BASE: process.env.PROVISION_LAB_INSTANCE ?? '0' },
          sequence: { groupOrder: 1 },
        },
      },
      {
        extends: true,
        test: {
          name: 'nspawn-alone',
          include: ALONE,
          globalSetup: ['test/global-setup.ts'],
          env: { PROVISION_LAB_ENGINE: 'nspawn' },
          sequence: { groupOrder: 2 },
          ...alone,
        },
      },
      // Each project below is one lab engine; its e2e files drive that engine's lab (PROVISION_LAB_ENGINE).
      {
        extends: true,
        test: {
          name: 'docker',
          include: ON_DOCKER,
          globalSetup: ['test/global-setup-docker.ts'],
          env: { PROVISION_LAB_ENGINE: 'docker' },
          sequence: { groupOrder: 3 },
          ...alone,
        },
      },
    ],
  },
});
