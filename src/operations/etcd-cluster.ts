import { ProvisionError } from '../errors.js';
import type { ClusterSpec } from '../inventory/types.js';
import { pollUntil, sleep } from '../util/poll.js';
import { clusterMembers, type Member } from './etcd-conf.js';
import type { OperationContext, VerifyResult } from './types.js';

/** How long a wait for the cluster may still take once another member is lost to the run. */
export const PEER_GRACE_MS = 5000;

/** The inventory's cluster and its members; this host must be one of them. */
export function clusterOf(ctx: OperationContext, op: string): { cluster: ClusterSpec; members: Member[] } {
  const cluster = ctx.cluster ?? ctx.inventory.cluster;
  if (!cluster) throw new ProvisionError('PLAYBOOK', `${op}: the inventory defines no etcd cluster`);
  if (!cluster.members.includes(ctx.host.name))
    throw new ProvisionError('PLAYBOOK', `${op}: host ${ctx.host.name} is not a member of etcd cluster ${cluster.name}`, {
      hint: `run this task on the cluster's members only (${cluster.members.join(', ')})`,
    });
  return { cluster, members: clusterMembers(ctx.inventory, cluster) };
}

/**
 * A wait for the whole cluster (a verification) ends early, after a short grace, when another
 * member of the cluster is lost to the run (unreachable, failed, not in it): waiting out the
 * full timeout for a member that will not come helps no one. `wait` stops at `signal`.
 */
export async function unlessPeerLost(ctx: OperationContext, cluster: ClusterSpec, wait: (signal: AbortSignal) => Promise<VerifyResult>): Promise<VerifyResult> {
  const stop = new AbortController();
  const racers = [wait(stop.signal)];
  if (ctx.peers) {
    racers.push(
      ctx.peers.lost(cluster.members, stop.signal).then(async (why) => {
        await sleep(PEER_GRACE_MS, undefined, { signal: stop.signal }).catch(() => undefined);
        return { ok: false, message: `stopped waiting for etcd cluster ${cluster.name}: ${why}` };
      }),
    );
  }
  try {
    return await Promise.race(racers);
  } finally {
    stop.abort();
  }
}

/**
 * A quorum guard decides from the state the run will have made, not the state it found: a
 * member that is unhealthy now but is a host of this run (a stopped member this run starts,
 * one it restarts) is waited for in a real run, up to `timeoutMs` and only while that host is
 * still in the run; --check assumes the run brings it back, and says so. Returns the members
 * still unhealthy when the guard decides.
 */
export async function sickAfterRun(
  ctx: OperationContext,
  cluster: ClusterSpec,
  sick: string[],
  recheck: () => Promise<string[]>,
  timeoutMs: number,
): Promise<string[]> {
  const self = ctx.host.name;
  const ours = (s: string[]) => s.filter((n) => n !== self && ctx.runHosts?.has(n));
  const pending = ours(sick);
  if (pending.length === 0) return sick;
  if (ctx.check || ctx.prefetch || !ctx.probe) {
    ctx.note(
      `${pending.join(', ')} ${pending.length === 1 ? 'is' : 'are'} not healthy now, but this run works on ${pending.length === 1 ? 'it' : 'them'}: ` +
        `the real run waits up to ${timeoutMs / 1000}s for ${pending.length === 1 ? 'it' : 'them'} and decides then`,
    );
    return sick.filter((n) => !pending.includes(n));
  }
  const stop = new AbortController();
  try {
    const lost = ctx.peers?.lost(pending, stop.signal).then(() => undefined);
    const waited = pollUntil(recheck, (s) => !s.some((n) => pending.includes(n)), { timeoutMs, intervalMs: 500, signal: stop.signal }).then((r) => r.value);
    const r = await Promise.race(lost ? [waited, lost] : [waited]);
    return r ?? (await recheck());
  } finally {
    stop.abort();
  }
}
