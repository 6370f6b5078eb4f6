/**
 * Leaves the machine as the test run found it: a lab that the tests brought up is taken
 * down at the end; one that was already running is left running.
 */
import * as lab from '../src/lab/index.js';

export default function setup() {
  const wasUp = lab.status().up;
  return async () => {
    if (!wasUp && lab.status().up) await lab.down();
  };
}
