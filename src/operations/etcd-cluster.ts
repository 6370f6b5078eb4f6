import { ProvisionError } from '../errors.js';
import type { ClusterSpec } from '../inventory/types.js';
import { clusterMembers, type Member } from './etcd-conf.js';
import type { OperationContext } from './types.js';

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
