/**
 * Installs the lab's Debian packages first (as root on Debian, as `lab up` would), so that
 * the unit tests that run real etcd and dnsmasq binaries on loopback run rather than skip.
 * Leaves the machine as the test run found it: a lab that this run's tests brought up is taken
 * down at the end; one that was already running, or that another run brought up meanwhile
 * (a second `npm test` on the same machine), is left running. The nspawn projects use two lab
 * instances (test/lab-per-worker.ts), the docker project one; global-setup-docker.ts is its setup.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import * as lab from '../src/lab/index.js';
import { readRunMark, runMarkOf } from './helpers/run-mark.js';
import { preflight } from '../src/lab/preflight.js';
import { runInstances } from './lab-instances.js';

/** `provision lab down` of another lab instance than this process's own (the lab module is bound to one). */
async function downOther(engineName: lab.EngineName, instance: number) {
  const bin = path.join(lab.projectRoot, 'bin', 'provision.js');
  const { stdout } = await promisify(execFile)(process.execPath, [bin, 'lab', 'down', '--engine', engineName], {
    env: { ...process.env, PROVISION_LAB_INSTANCE: String(instance) },
    timeout: 600_000,
  });
  process.stdout.write(stdout);
}

export function labSetup(engineName: lab.EngineName, instances: number[]) {
  return async function setup() {
    const eng = lab.engine(engineName);
    if (process.getuid?.() === 0 && engineName === 'nspawn') await preflight((line) => console.log(line));
    // Inherited by the test workers; test/helpers/lab.ts records it when it brings the lab up.
    const runId = process.env.PROVISION_TEST_RUN ?? `${process.pid}-${randomBytes(6).toString('hex')}`;
    process.env.PROVISION_TEST_RUN = runId;
    return async () => {
      for (const i of instances) {
        if (readRunMark(engineName, i) !== runId) continue;
        // The docker lab's down also stops a dockerd that its up started for this run.
        if (i === eng.config.instance) {
          if (eng.status().up) await eng.down({ log: (l) => console.log(l) });
        } else await downOther(engineName, i);
        // Each project's setup has this teardown: the first one takes the lab down, the others find no mark.
        fs.rmSync(runMarkOf(engineName, i), { force: true });
      }
    };
  };
}

export default labSetup('nspawn', runInstances());
