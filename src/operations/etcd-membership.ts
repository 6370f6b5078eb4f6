/**
 * Membership changes of a live cluster, decided from what the cluster lists (member list) and
 * which members answer (endpoint health): pure functions, so the run and --check take the same
 * decision from the same facts, and the unit tests feed them fixtures.
 *
 * Grow: a member of the inventory that the cluster does not list joins it, one at a time in
 * inventory order: `member add --learner`, a start with state "existing" and the member list
 * as it is then, `member promote` once the learner has caught up.
 * Shrink: a member the cluster lists that the inventory does not is removed (`member remove`),
 * unhealthy ones first, each removal only if the members left keep a quorum.
 */
import type { EtcdMember } from '../facts/etcd.js';
import type { ClusterSpec } from '../inventory/types.js';
import { memberUrls, type Member } from './etcd-conf.js';

export const quorumOf = (n: number): number => Math.floor(n / 2) + 1;
export const toleranceOf = (n: number): number => Math.max(0, n - quorumOf(n));

/** "4 members, quorum 3, tolerates 1" */
export const sizeText = (n: number): string => `${n} member${n === 1 ? '' : 's'}, quorum ${quorumOf(n)}, tolerates ${toleranceOf(n)}`;

/** Whether a listed member is the inventory member `m` (by name, or by peer URL before it has started). */
export const isMember = (cluster: ClusterSpec, m: Member, x: EtcdMember): boolean => x.name === m.name || x.peerURLs.includes(memberUrls(cluster, m).peer);

/** The listed member that is `m`, if any. */
export const listedAs = (cluster: ClusterSpec, m: Member, listed: EtcdMember[]): EtcdMember | undefined => listed.find((x) => isMember(cluster, m, x));

/** Voting members: started or not, but not learners (learners count for no quorum). */
const voters = (listed: EtcdMember[]) => listed.filter((x) => !x.isLearner);

export interface JoinDecision {
  /**
   * Members that join before this one in this run (inventory order): not listed yet, or listed
   * as a learner (added, not yet promoted: etcd allows one learner at a time).
   */
  before: string[];
  /** ETCD_INITIAL_CLUSTER for the joining member: the cluster as it will be once it is added. */
  initialCluster: string;
  /** Voting members before and after this member is promoted. */
  sizeBefore: number;
  sizeAfter: number;
}

/**
 * What joining `self` looks like, with the members listed now and the members of the inventory
 * that join before it (earlier in inventory order, not listed or still a learner) taken as
 * joined. A member listed as a learner is still joining: the run that plans the next member may
 * read the list just after the earlier one's `member add`, and must wait for its promotion too.
 */
export function planGrow(cluster: ClusterSpec, members: Member[], listed: EtcdMember[], self: string): JoinDecision {
  const i = members.findIndex((m) => m.name === self);
  const before = members.slice(0, i).filter((m) => {
    const x = listedAs(cluster, m, listed);
    return !x || x.isLearner;
  });
  const peerOf = (m: Member) => `${m.name}=${memberUrls(cluster, m).peer}`;
  // The cluster as it will be: the inventory's members it lists (in inventory order), those
  // joining before this one, this one, then the members it lists that the inventory does not
  // (their removal comes later in the run: until then they count).
  const ours = members.filter((m) => m.name === self || before.includes(m) || listedAs(cluster, m, listed));
  const foreign = listed.filter((x) => !members.some((m) => isMember(cluster, m, x)));
  const entries = [...ours.map(peerOf), ...foreign.map((x) => `${x.name || x.id}=${x.peerURLs[0] ?? ''}`)];
  const sizeBefore = voters(listed).length + before.length;
  return { before: before.map((m) => m.name), initialCluster: entries.join(','), sizeBefore, sizeAfter: sizeBefore + 1 };
}

export interface Removal {
  id: string;
  name: string;
  healthy: boolean;
  learner: boolean;
  /** Voting members before and after this removal. */
  sizeBefore: number;
  sizeAfter: number;
}

export type RemovalPlan = { removals: Removal[]; warnings: string[] } | { refused: string; hint: string };

/**
 * The removals that make the cluster's members those of the inventory, in the order they are
 * made (learners and unhealthy members first: removing a member that is down only helps), or
 * why none is made. `healthy`: the ids of the members that answered a health check.
 */
export function planShrink(cluster: ClusterSpec, members: Member[], listed: EtcdMember[], healthy: ReadonlySet<string>): RemovalPlan {
  const gone = listed.filter((x) => !members.some((m) => isMember(cluster, m, x)));
  if (gone.length === 0) return { removals: [], warnings: [] };
  const label = (x: EtcdMember) => x.name || `(unstarted ${x.id})`;
  // By name, not in etcd's order (by member ID, which differs from cluster to cluster).
  const names = gone.map(label).sort().join(', ');
  const votersNow = voters(listed);
  const stay = votersNow.filter((x) => !gone.includes(x));
  if (stay.length === 0)
    return {
      refused: `not removing ${names} from cluster ${cluster.name}: no member of it would be left`,
      hint: 'keep at least one member the cluster lists in cluster.members; to take the whole cluster down, stop etcd on its hosts',
    };
  const goneVoters = gone.filter((x) => !x.isLearner);
  const tolerates = toleranceOf(votersNow.length);
  if (goneVoters.length > tolerates)
    return {
      refused: `not removing ${names} from cluster ${cluster.name}: that is ${goneVoters.length} of its ${sizeText(votersNow.length)}, more than it can lose at once`,
      hint: `retire at most ${tolerates} member${tolerates === 1 ? '' : 's'} per run (put the others back in cluster.members), run, then retire the next`,
    };
  const order = [...gone].sort((a, b) => rank(a, healthy) - rank(b, healthy));
  let n = votersNow.length;
  let up = votersNow.filter((x) => healthy.has(x.id)).length;
  if (up < quorumOf(n))
    return {
      refused: `not removing ${names} from cluster ${cluster.name}: only ${up} of its ${sizeText(n)} are healthy, so it has no quorum to agree to a removal`,
      hint: 'bring members back until a quorum answers (etcdctl endpoint health), then run again',
    };
  if (!stay.some((x) => healthy.has(x.id)))
    return {
      refused: `not removing ${names} from cluster ${cluster.name}: none of the members that stay (${stay.map(label).join(', ')}) answers, so there is no member to make the change through`,
      hint: 'bring the members that stay back first (systemctl status etcd; journalctl -u etcd), then run again',
    };
  const removals: Removal[] = [];
  for (const x of order) {
    const h = healthy.has(x.id);
    if (x.isLearner) {
      removals.push({ id: x.id, name: label(x), healthy: h, learner: true, sizeBefore: n, sizeAfter: n });
      continue;
    }
    const after = n - 1;
    const upAfter = up - (h ? 1 : 0);
    if (upAfter < quorumOf(after))
      return {
        refused: `not removing ${label(x)} from cluster ${cluster.name}: ${upAfter} of the ${after} members left would be healthy, below the quorum of ${quorumOf(after)}`,
        hint: `bring the unhealthy members back first (etcdctl endpoint health), then run again`,
      };
    removals.push({ id: x.id, name: label(x), healthy: h, learner: false, sizeBefore: n, sizeAfter: after });
    n = after;
    up = upAfter;
  }
  const warnings = n % 2 === 0 ? [`cluster ${cluster.name} will have ${n} members: an even count tolerates no more failures than ${n - 1}`] : [];
  return { removals, warnings };
}

const rank = (x: EtcdMember, healthy: ReadonlySet<string>) => (x.isLearner ? 0 : healthy.has(x.id) ? 2 : 1);
