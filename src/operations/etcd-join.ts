import { ProvisionError } from '../errors.js';
import { etcdctl, etcdMembers, type EtcdQuery } from '../facts/etcd.js';
import type { ClusterSpec } from '../inventory/types.js';
import type { CommandStep } from '../plan/types.js';
import { clusterStateOf, etcdctlTls, memberUrls, type Member } from './etcd-conf.js';
import type { OperationContext } from './types.js';

export interface JoinPlan {
  /** ETCD_INITIAL_CLUSTER_STATE for this member. */
  state: 'new' | 'existing';
  /** etcdctl member remove / add, run before the member's etcd.conf is written. */
  steps: CommandStep[];
}

/**
 * A member without data that was part of a cluster: is there already a cluster (the other members answer) and what is
 * this member to it? Nothing answers: a first bootstrap ("new"). The cluster lists the member
 * but it never started: it is still joining its first bootstrap ("existing" works for it too).
 * The cluster lists it as started, or not at all: its data directory was lost (or it was
 * removed). Then, only when asked, the safe replacement: `member remove` of the old entry,
 * `member add`, and a start with state "existing"; the other members are never touched.
 */
export async function planJoin(ctx: OperationContext, cluster: ClusterSpec, members: Member[], self: string, conf: string | undefined): Promise<JoinPlan> {
  const others = members.filter((m) => m.name !== self);
  // Only a member that has been part of a cluster (its etcd.conf says "existing") asks the
  // others: on a first bootstrap they are not up, and etcdctl would wait its dial timeout.
  if (others.length === 0 || clusterStateOf(conf ?? '') !== 'existing') return { state: 'new', steps: [] };
  const q: EtcdQuery = { endpoints: others.map((m) => memberUrls(cluster, m).client), tls: etcdctlTls(cluster, self) };
  const view = await ctx.fact(etcdMembers, q);
  if (!view.ok) return { state: 'new', steps: [] };
  const me = members.find((m) => m.name === self)!;
  const peer = memberUrls(cluster, me).peer;
  const listed = view.members.find((x) => x.name === self || x.peerURLs.includes(peer));
  if (listed && !listed.started) {
    ctx.note(`cluster ${cluster.name} already runs without ${self}, which it expects: joining it (state existing)`);
    return { state: 'existing', steps: [] };
  }
  const cmd = (description: string, ...argv: string[]): CommandStep => ({ kind: 'command', description, command: etcdctl(q, ...argv), timeoutMs: 30_000 });
  const steps: CommandStep[] = [];
  if (listed) steps.push(cmd(`remove the lost member ${self} (${listed.id}) from cluster ${cluster.name}`, 'member', 'remove', listed.id));
  steps.push(cmd(`add ${self} to cluster ${cluster.name} again as a new member`, 'member', 'add', self, `--peer-urls=${peer}`));
  const what = listed
    ? `${self} has no data, but cluster ${cluster.name} lists it as started member ${listed.id}: its data directory was lost`
    : `${self} has no data and cluster ${cluster.name} runs without it (it was removed)`;
  const manual = [
    ...(listed ? [`etcdctl --endpoints=${q.endpoints.join(',')} member remove ${listed.id}`] : []),
    `etcdctl --endpoints=${q.endpoints.join(',')} member add ${self} --peer-urls=${peer}`,
    `start ${self} with ETCD_INITIAL_CLUSTER_STATE="existing"`,
  ];
  if (cluster.bootstrap !== 'static')
    throw new ProvisionError('COMMAND', `${what}. Replacing a member is done with bootstrap: static settings; provision does it for static clusters only`, {
      hint: `by hand: ${manual.join('; ')} (and ETCD_INITIAL_CLUSTER listing every member instead of ${cluster.bootstrap === 'dns' ? 'ETCD_DISCOVERY_SRV' : 'ETCD_DISCOVERY'})`,
    });
  if (ctx.options?.replaceLostMembers !== true)
    throw new ProvisionError('COMMAND', `${what}. Starting it as it is would fail or split the cluster, so it is left alone`, {
      hint: `to replace it safely (the other members keep running): provision <inventory> --replace-lost-members, which runs: ${manual.join('; ')}`,
    });
  ctx.note(`${what}: replacing it (--replace-lost-members)`);
  return { state: 'existing', steps };
}
