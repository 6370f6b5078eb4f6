/**
 * Installs the lab's Debian packages first (as root on Debian, as `lab up` would), so that
 * the unit tests that run real etcd and dnsmasq binaries on loopback run rather than skip.
 * Leaves the machine as the test run found it: a lab that this run's tests brought up is taken
 * down at the end; one that was already running, or that another run brought up meanwhile
 * (a second `npm test` on the same machine), is left running. One such setup per lab engine
 * (vitest project): this file for nspawn, global-setup-docker.ts for docker.
 */
import { randomBytes } from 'node:crypto';
import * as lab from '../src/lab/index.js';
import { readRunMark } from './helpers/lab.js';
import { preflight } from '../src/lab/preflight.js';

export function labSetup(engineName: lab.EngineName) {
  return async function setup() {
    const eng = lab.engine(engineName);
    if (process.getuid?.() === 0 && engineName === 'nspawn') await preflight((line) => console.log(line));
    const wasUp = eng.status().up;
    // Inherited by the test workers; test/helpers/lab.ts records it when it brings the lab up.
    const runId = process.env.PROVISION_TEST_RUN ?? `${process.pid}-${randomBytes(6).toString('hex')}`;
    process.env.PROVISION_TEST_RUN = runId;
    return async () => {
      // The docker lab's down also stops a dockerd that its up started for this run.
      if (!wasUp && eng.status().up && readRunMark(engineName) === runId) await eng.down({ log: (l) => console.log(l) });
    };
  };
}

export default labSetup('nspawn');
