import { ProvisionError } from '../errors.js';
import type { ClusterSpec } from '../inventory/types.js';
import { sleep } from '../util/poll.js';
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
