/**
 * Installs the lab's Debian packages first (as root on Debian, as `lab up` would), so that
 * the unit tests that run real etcd and dnsmasq binaries on loopback run rather than skip.
 * Leaves the machine as the test run found it: a lab that this run's tests brought up is taken
 * down at the end; one that was already running, or that another run brought up meanwhile
 * (a second `npm test` on the same machine), is left running.
 */
import { randomBytes } from 'node:crypto';
import * as lab from '../src/lab/index.js';
import { readRunMark } from './helpers/lab.js';
import { preflight } from '../src/lab/preflight.js';

export default async function setup() {
  if (process.getuid?.() === 0) await preflight((line) => console.log(line));
  const wasUp = lab.status().up;
  // Inherited by the test workers; test/helpers/lab.ts records it when it brings the lab up.
  const runId = `${process.pid}-${randomBytes(6).toString('hex')}`;
  process.env.PROVISION_TEST_RUN = runId;
  return async () => {
    if (!wasUp && lab.status().up && readRunMark() === runId) await lab.down();
  };
}
