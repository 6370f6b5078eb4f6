/**
 * The order end-to-end files start in. Two run at once (vitest.config.ts), so the longest go
 * first and the short ones fill in at the end; vitest's own order (the last run's durations,
 * else file size) put the 5-minute soak last on a fresh clone, and the run waited on it alone.
 * The figures are seconds each file took with another one beside it on a quiet 2-core machine
 * (`.ci/results.json` of a full run); only their order matters. A file not listed runs first.
 */
import path from 'node:path';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

const SECONDS: Record<string, number> = {
  'faults.test.ts': 394,
  'modes.test.ts': 289,
  'upgrade.test.ts': 230,
  'soak.test.ts': 272,
  'scale.test.ts': 200,
  'backup.test.ts': 198,
  'membership.test.ts': 174,
  'real-machines.test.ts': 122,
  'ansible.test.ts': 118,
  'live-cluster.test.ts': 118,
  'static.test.ts': 88,
  'settings.test.ts': 59,
  'dns-plain.test.ts': 59,
  'hardening.test.ts': 53,
  'docker-host.test.ts': 50,
  'lab.test.ts': 42,
};

const cost = (spec: TestSpecification): number => SECONDS[path.basename(spec.moduleId)] ?? 1e9;

export class LongestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const base = await super.sort(files);
    if (!base.every((f) => f.moduleId.includes(`${path.sep}e2e${path.sep}`))) return base;
    return [...base].sort((a, b) => cost(b) - cost(a));
  }
}
