/** Which lab instances a test run uses: the base one (PROVISION_LAB_INSTANCE, else 0) and, for the e2e files that run two at a time, the next. */
export const E2E_WORKERS = 2;

const base = (): number => {
  const raw = process.env.PROVISION_TEST_LAB_BASE ?? process.env.PROVISION_LAB_INSTANCE ?? '0';
  const n = Number(raw);
  if (!/^[0-9]$/.test(raw) || n + E2E_WORKERS - 1 > 9)
    throw new Error(`PROVISION_LAB_INSTANCE must be a digit 0-${10 - E2E_WORKERS} for npm test, not "${raw}"`);
  return n;
};

/** Every lab instance the run may bring up. */
export const runInstances = (): number[] => Array.from({ length: E2E_WORKERS }, (_, i) => base() + i);

/** The lab instance of a vitest worker (VITEST_POOL_ID 1..E2E_WORKERS). */
export const labInstanceOfWorker = (poolId: number): number => base() + ((poolId - 1) % E2E_WORKERS);
