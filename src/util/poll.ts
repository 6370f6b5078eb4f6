import { setTimeout as sleep } from 'node:timers/promises';

export { sleep };

export interface PollOptions {
  timeoutMs: number;
  intervalMs: number;
  /** Stops polling early (the last value is returned, not done). */
  signal?: AbortSignal;
}

/**
 * Reads `check()` until `done(value)` or until the next read would start after the deadline
 * (timeoutMs 0: one read). Returns the last value read and whether it was done.
 */
export async function pollUntil<T>(check: () => Promise<T>, done: (value: T) => boolean, o: PollOptions): Promise<{ value: T; done: boolean }> {
  const deadline = Date.now() + o.timeoutMs;
  for (;;) {
    const value = await check();
    if (done(value)) return { value, done: true };
    if (Date.now() + o.intervalMs > deadline || o.signal?.aborted) return { value, done: false };
    await sleep(o.intervalMs);
  }
}
