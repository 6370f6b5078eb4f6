/**
 * Keeps a new etcd cluster from being bootstrapped with a member missing.
 *
 * Hosts run independently, so without this the reachable members of a cluster that is being
 * created would start etcd while another member is unreachable or has failed: with a quorum
 * they form the cluster without it, without one they wait forever. Instead, a task that
 * starts etcd.service on a member waits for its peers (PeerWait, run by the executor) until
 * each member of the cluster has either reached it too or is known to be missing
 * (unreachable, failed, interrupted, or not in the run). Then one decision holds for all:
 *
 * - nobody missing: go;
 * - some member that arrived has data (the cluster exists): go, the missing ones rejoin later;
 * - otherwise the cluster is being bootstrapped with a member missing: hold (each member that
 *   arrived fails with the reason), unless the user asked for it (--allow-partial).
 */
import { pathExists } from '../facts/path.js';
import { ETCD_UNIT, memberDataMarker } from './etcd-conf.js';
import type { OperationContext, PeerDecision, PeerWait } from './types.js';

/** The wait before starting etcd on this host, or undefined when it is not a cluster member. */
export function etcdStartWait(ctx: OperationContext): PeerWait<boolean> | undefined {
  const cluster = ctx.cluster ?? ctx.inventory.cluster;
  if (!cluster?.members.includes(ctx.host.name)) return undefined;
  return {
    point: `start ${ETCD_UNIT} of cluster ${cluster.name}`,
    peers: cluster.members,
    action: 'start etcd',
    // Whether this member's data directory holds data; read through the host's probe cache, so
    // the read etcd_config made is reused while nothing on the host has changed since. Not
    // knowing it, the member must not start etcd: its task fails (and it counts as missing).
    arrive: () => ctx.fact(pathExists, { path: memberDataMarker(cluster, ctx.host.name) }),
    decide: (arrived, missing) => decide(cluster.name, cluster.members, arrived, missing, ctx.options?.allowPartial === true),
  };
}

function decide(
  name: string,
  members: readonly string[],
  arrived: ReadonlyMap<string, boolean>,
  missing: ReadonlyMap<string, string>,
  allowPartial: boolean,
): PeerDecision {
  const gone = members.filter((m) => !arrived.has(m));
  if (gone.length === 0) return { go: true };
  if ([...arrived.values()].some(Boolean)) return { go: true };
  const names = gone.join(', ');
  const why = gone.map((m) => missing.get(m) ?? `${m} is missing`).join('; ');
  if (allowPartial) return { go: true, warning: `bootstrapping etcd cluster ${name} without ${names} (--allow-partial): ${why}` };
  return {
    go: false,
    message:
      `not starting etcd: cluster ${name} is being bootstrapped (no member has data yet) and ${why}; ` +
      `starting the other members now would bootstrap the cluster with ${gone.length === 1 ? 'a member' : 'members'} missing`,
    hint: `everything before this step is done; bring ${names} back and run again, or pass --allow-partial to bootstrap without ${gone.length === 1 ? 'it' : 'them'}`,
  };
}
