/**
 * The run mark, apart from lab.ts so that the global setup can read it without test hooks.
 */
import fs from 'node:fs';
import path from 'node:path';
import * as lab from '../../src/lab/index.js';

/**
 * Which test run brought the lab up: global-setup.ts gives each run an id, and takes the lab
 * down at the end only if its own run brought it up (another run, or a user, may be using it).
 */
export const runMarkOf = (engine: lab.EngineName = lab.LAB.engine, instance: number = lab.LAB.instance) =>
  path.join(lab.labConfig(engine, instance).stateDir, 'brought-up-by-test-run');
export const RUN_MARK = runMarkOf();
export const readRunMark = (engine: lab.EngineName = lab.LAB.engine, instance: number = lab.LAB.instance): string | undefined => {
  try {
    return fs.readFileSync(runMarkOf(engine, instance), 'utf8');
  } catch {
    return undefined;
  }
};
