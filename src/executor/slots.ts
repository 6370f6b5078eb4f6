/**
 * At most `n` hosts worked on at once (--forks), with one thing p-limit cannot do: a host
 * that waits for the others (the bootstrap gate) gives its slot up while it waits, so that
 * the hosts it waits for can run even when there are fewer slots than cluster members.
 */
export interface Slots {
  /** Runs fn in a slot; `park(p)` awaits p with the slot given up meanwhile. */
  run<T>(fn: (park: <U>(p: Promise<U>) => Promise<U>) => Promise<T>): Promise<T>;
}

export function slots(n: number): Slots {
  let free = n;
  const queue: (() => void)[] = [];
  const acquire = (): Promise<void> => {
    if (free > 0) {
      free--;
      return Promise.resolve();
    }
    return new Promise((resolve) => queue.push(resolve));
  };
  const release = (): void => {
    const next = queue.shift();
    if (next) next();
    else free++;
  };
  const park = async <U>(p: Promise<U>): Promise<U> => {
    release();
    try {
      return await p;
    } finally {
      await acquire();
    }
  };
  return {
    async run(fn) {
      await acquire();
      try {
        return await fn(park);
      } finally {
        release();
      }
    },
  };
}
