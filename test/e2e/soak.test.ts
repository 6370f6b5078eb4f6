/**
 * The soak (test/helpers/soak.ts) in a bounded form: one run per kind of fault by default.
 * `npm run soak` runs it longer (PROVISION_SOAK_RUNS, or `npm run soak -- --runs N`).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureLab, etcdNodes, lab } from '../helpers/lab.js';
import { FAULT_KINDS, formatFigures, soak, soakRuns } from '../helpers/soak.js';

const RUNS = soakRuns(FAULT_KINDS.length);
const SEED = process.env.PROVISION_SOAK_SEED ? Number(process.env.PROVISION_SOAK_SEED) : undefined;

let dir: string;

describe('soak on the lab', () => {
  beforeAll(async () => {
    await ensureLab();
    // From bare members: an earlier test file may have left another cluster on them.
    for (const n of etcdNodes()) await lab.resetNode(n.name);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'provision-soak-'));
  });
  afterAll(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  // A bound for hangs only: each run is a converge under a fault and a recovery converge.
  it(
    `${RUNS} converge runs with faults at random moments: every run recovers, no key lost, no file half-written`,
    { timeout: 600_000 * (RUNS + 2) },
    async () => {
      const f = await soak({ runs: RUNS, dir, seed: SEED, log: (l) => process.stdout.write(`${l}\n`) });
      process.stdout.write(`\nsoak figures\n${formatFigures(f)}\n`);
      expect(f.faultsInjected).toBe(RUNS);
      expect(f.problems).toEqual([]);
      expect(f.runsRecovered).toBe(RUNS);
      expect(f.keysWritten).toBeGreaterThan(0);
      expect(f.keysLost).toBe(0);
      expect(f.filesHalfWritten).toBe(0);
    },
  );
});
