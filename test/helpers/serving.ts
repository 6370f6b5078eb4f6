/**
 * Whether a member's etcd is down, as seen from the controller while a run restarts members:
 * its node is up, so a stopped etcd refuses the connection at once. Only a refusal counts as
 * down. A connection that takes long (a loaded machine can take seconds to answer anything)
 * is not a stopped etcd, and counting it as one made a quorum check fail on a slow machine.
 */
import net from 'node:net';

export const clientPortDown = (address: string, port = 2379): Promise<boolean> =>
  new Promise<boolean>((resolve) => {
    const sock = net.connect({ host: address, port, timeout: 10_000 }, () => (sock.destroy(), resolve(false)));
    sock.on('error', (e: NodeJS.ErrnoException) => resolve(e.code === 'ECONNREFUSED'));
    sock.on('timeout', () => (sock.destroy(), resolve(false)));
  });

/** How many of these members have etcd up (not refusing its client port) right now. */
export const membersUp = async (addresses: string[]): Promise<number> =>
  (await Promise.all(addresses.map((a) => clientPortDown(a)))).filter((down) => !down).length;

/**
 * Samples how many of these members have etcd up, every `intervalMs`, until the returned stop
 * is called: the fewest seen at any moment, and how many samples that is from.
 */
export function watchMembersUp(addresses: string[], intervalMs = 20): () => Promise<{ minUp: number; samples: number }> {
  let minUp = addresses.length;
  let samples = 0;
  let stop = false;
  const loop = (async () => {
    while (!stop) {
      minUp = Math.min(minUp, await membersUp(addresses));
      samples++;
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  })();
  return async () => {
    stop = true;
    await loop;
    return { minUp, samples };
  };
}
