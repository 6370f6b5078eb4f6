/**
 * Installs the lab's Debian packages first (as root on Debian, as `lab up` would), so that
 * the unit tests that run real etcd and dnsmasq binaries on loopback run rather than skip.
 * Leaves the machine as the test run found it: a lab that the tests brought up is taken
 * down at the end; one that was already running is left running.
 */
import * as lab from '../src/lab/index.js';
import { preflight } from '../src/lab/preflight.js';

export default async function setup() {
  if (process.getuid?.() === 0) await preflight((line) => console.log(line));
  const wasUp = lab.status().up;
  return async () => {
    if (!wasUp && lab.status().up) await lab.down();
  };
}
