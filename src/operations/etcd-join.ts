import { shellJoin } from '../connection/quote.js';
import { ProvisionError } from '../errors.js';
import { etcdctl, etcdMembers, type EtcdMember, type EtcdMembers, type EtcdQuery } from '../facts/etcd.js';
import type { ClusterSpec } from '../inventory/types.js';
import type { CommandStep } from '../plan/types.js';
import { pollUntil } from '../util/poll.js';
import { clusterStateOf, ETCD_UNIT, etcdctlTls, memberUrls, type Member } from './etcd-conf.js';
import { listedAs, planGrow, sizeText } from './etcd-membership.js';
import type { OperationContext } from './types.js';

export interface JoinPlan {
  /** ETCD_INITIAL_CLUSTER_STATE for this member. */
  state: 'new' | 'existing';
  /** etcdctl member remove / add, run before the member's etcd.conf is written. */
  steps: CommandStep[];
  /** Run after etcd.conf is written: the start of a member that joins, and its promotion. */
  after?: CommandStep[];
  /** ETCD_INITIAL_CLUSTER of a member that joins a live cluster (every mode). */
  initialCluster?: string;
}

/** How long a member that joins waits for the members that join before it (inventory order). */
export const JOIN_WAIT_MS = 300_000;
/** How long a learner may take to catch up before its promotion is given up. */
export const PROMOTE_SECONDS = 120;
/** How long a membership change refused as "unhealthy cluster" is tried again (retryWhileUnhealthy). */
export const UNHEALTHY_RETRY_SECONDS = 30;

/**
 * A membership change (`member add`, `member remove`) tried again while etcd refuses it as
 * "etcdserver: unhealthy cluster". With etcd's strict reconfiguration check (on by default) the
 * member asked refuses until it has been connected for 5 s (etcd's HealthInterval) to every
 * voting member: for a few seconds after a member joined, was promoted or restarted. A new
 * member right after another one is promoted met exactly that. The refusal changes nothing, so
 * trying again is safe; any other failure, or the same one after `seconds`, ends the step.
 */
export function retryWhileUnhealthy(command: string, seconds = UNHEALTHY_RETRY_SECONDS): string {
  return (
    `i=0; until out=$(${command} 2>&1); do rc=$?; ` +
    `case $out in *'etcdserver: unhealthy cluster'*) i=$((i+1)); if [ "$i" -lt ${seconds} ]; then sleep 1; continue; fi;; esac; ` +
    `printf '%s\n' "$out" >&2; exit $rc; done; printf '%s\n' "$out"`
  );
}

/** The query with etcdctl's usual dial: the short one only tells a first bootstrap apart. */
const usualDial = ({ endpoints, tls }: EtcdQuery): EtcdQuery => ({ endpoints, tls });

/**
 * A member without data: is there already a cluster (the other members answer) and what is
 * this member to it? Nothing answers: a first bootstrap ("new"). The cluster lists the member
 * but it never started: it is still joining ("existing"). The cluster does not list it: it
 * joins the live cluster (grow, below). The cluster lists it as started: its data directory
 * was lost; then, only when asked, the safe replacement: `member remove` of the old entry,
 * `member add`, and a start with state "existing"; the other members are never touched.
 */
export async function planJoin(ctx: OperationContext, cluster: ClusterSpec, members: Member[], self: string, conf: string | undefined): Promise<JoinPlan> {
  const others = members.filter((m) => m.name !== self);
  if (others.length === 0) return { state: 'new', steps: [] };
  const tls = etcdctlTls(cluster, self);
  // On a first bootstrap nobody answers: a short dial keeps that answer quick. A member that
  // has been in a cluster (its etcd.conf says "existing") waits etcdctl's usual dial.
  const existing = clusterStateOf(conf ?? '') === 'existing';
  const q: EtcdQuery = { endpoints: others.map((m) => memberUrls(cluster, m).client), tls, ...(existing ? {} : { dialTimeout: '1s' }) };
  let view = await ctx.fact(etcdMembers, q);
  if (!view.ok && ctx.check && ctx.unknowable?.(etcdMembers, q)) view = (await askPeer(ctx, cluster, others, q)) ?? view;
  if (!view.ok) return { state: 'new', steps: [] };
  const me = members.find((m) => m.name === self)!;
  const peer = memberUrls(cluster, me).peer;
  const listed = listedAs(cluster, me, view.members);
  if (!listed) return grow(ctx, cluster, members, me, q, view.members);
  if (!listed.started) {
    if (!listed.isLearner) {
      ctx.note(`cluster ${cluster.name} already runs without ${self}, which it expects: joining it (state existing)`);
      return { state: 'existing', steps: [] };
    }
    // Added as a learner by an earlier run that stopped before it started: it goes on from there.
    const g = planGrow(cluster, members, view.members, self);
    ctx.note(`cluster ${cluster.name} lists ${self} as a learner that has not started (an earlier run stopped there): starting and promoting it`);
    return {
      state: 'existing',
      steps: [],
      initialCluster: g.initialCluster,
      after: startAndPromote(viaOthers(cluster, members, me, q, view.members), cluster, me, g.sizeBefore, g.sizeAfter),
    };
  }
  // etcdctl's usual dial, and tried again while etcd refuses the change as "unhealthy cluster"
  // for a moment (as grow and shrink do).
  const cmd = (description: string, ...argv: string[]): CommandStep => ({
    kind: 'command',
    description,
    command: retryWhileUnhealthy(etcdctl(usualDial(q), ...argv)),
    timeoutMs: (UNHEALTHY_RETRY_SECONDS + 30) * 1000,
  });
  const steps: CommandStep[] = [
    cmd(`remove the lost member ${self} (${listed.id}) from cluster ${cluster.name}`, 'member', 'remove', listed.id),
    cmd(`add ${self} to cluster ${cluster.name} again as a new member`, 'member', 'add', self, `--peer-urls=${peer}`),
  ];
  const what = `${self} has no data, but cluster ${cluster.name} lists it as started member ${listed.id}: its data directory was lost`;
  const manual = [
    `etcdctl --endpoints=${q.endpoints.join(',')} member remove ${listed.id}`,
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

/**
 * A member of the inventory that the live cluster does not list joins it: as a learner (no
 * vote, so quorum is untouched while it catches up), started with state "existing" and the
 * member list as it will be, then promoted. Members join one at a time in inventory order: a
 * member waits until those before it have joined (--check plans as if they had).
 */
async function grow(ctx: OperationContext, cluster: ClusterSpec, members: Member[], me: Member, q: EtcdQuery, listed: EtcdMember[]): Promise<JoinPlan> {
  let g = planGrow(cluster, members, listed, me.name);
  let latest = listed;
  if (g.before.length > 0 && !ctx.check && !ctx.prefetch && ctx.probe) {
    const probe = ctx.probe.bind(ctx);
    const stop = new AbortController();
    const lost = ctx.peers?.lost(g.before, stop.signal).then((why) => ({ lost: why }));
    const joined = pollUntil(
      async () => probe(etcdMembers, usualDial(q)),
      (v) => v.ok && g.before.every((n) => isVoter(cluster, members, n, v.members)),
      { timeoutMs: JOIN_WAIT_MS, intervalMs: 1000, signal: stop.signal },
    ).then((r) => ({ r }));
    const first = await Promise.race(lost ? [joined, lost] : [joined]).finally(() => stop.abort());
    if ('lost' in first)
      throw new ProvisionError(
        'COMMAND',
        `not joining ${me.name} to cluster ${cluster.name}: ${g.before.join(', ')} join${g.before.length === 1 ? 's' : ''} first, and ${first.lost}`,
        {
          hint: 'members join one at a time in inventory order; run again once the members before it can join',
        },
      );
    if (!first.r.done || !first.r.value.ok)
      throw new ProvisionError(
        'COMMAND',
        `not joining ${me.name} to cluster ${cluster.name}: ${g.before.join(', ')} did not join within ${JOIN_WAIT_MS / 1000}s`,
        {
          hint: 'members join one at a time in inventory order; run again',
        },
      );
    latest = first.r.value.members;
    g = planGrow(cluster, members, latest, me.name);
  } else if (g.before.length > 0) ctx.note(`joins after ${g.before.join(', ')} (one member at a time, in inventory order)`);
  const listedNow = latest;
  const peer = memberUrls(cluster, me).peer;
  ctx.note(`${me.name} joins the live cluster ${cluster.name}: ${sizeText(g.sizeBefore)} -> ${sizeText(g.sizeAfter)}`);
  const add: CommandStep = {
    kind: 'command',
    description: `add ${me.name} to cluster ${cluster.name} as a learner (${sizeText(g.sizeBefore)}; a learner does not vote)`,
    command: retryWhileUnhealthy(etcdctl(viaOthers(cluster, members, me, q, listedNow), 'member', 'add', me.name, `--peer-urls=${peer}`, '--learner')),
    timeoutMs: (UNHEALTHY_RETRY_SECONDS + 30) * 1000,
  };
  return {
    state: 'existing',
    steps: [add],
    initialCluster: g.initialCluster,
    after: startAndPromote(viaOthers(cluster, members, me, q, listedNow), cluster, me, g.sizeBefore, g.sizeAfter),
  };
}

const isVoter = (cluster: ClusterSpec, members: Member[], name: string, listed: EtcdMember[]): boolean => {
  const x = listedAs(
    cluster,
    members.find((m) => m.name === name)!,
    listed,
  );
  return !!x && x.started && !x.isLearner;
};

/**
 * The query through the other members the cluster lists as started (never the one that joins,
 * nor one that has not joined yet: etcdctl might pick it and time out).
 */
function viaOthers(cluster: ClusterSpec, members: Member[], me: Member, q: EtcdQuery, listed: EtcdMember[]): EtcdQuery {
  const up = members.filter((m) => m.name !== me.name && listedAs(cluster, m, listed)?.started).map((m) => memberUrls(cluster, m).client);
  return { endpoints: up.length ? up : q.endpoints, tls: q.tls };
}

/** Start the learner (its start is queued: it needs no quorum of its own) and promote it once it has caught up. */
function startAndPromote(via: EtcdQuery, cluster: ClusterSpec, me: Member, before: number, after: number): CommandStep[] {
  const peer = memberUrls(cluster, me).peer;
  // The learner's id is known only once `member add` has run: it is looked up by peer URL in
  // `member list` (etcdctl 3.4: "id, status, name, peer URLs, client URLs, is learner").
  const id = `"$(${etcdctl(via, 'member', 'list')} | awk -F', ' -v p=${shellJoin([peer])} '$4 == p {print $1}')"`;
  const promote = `${etcdctl(via, 'member', 'promote')} ${id}`;
  return [
    {
      kind: 'command',
      // Enabled before it starts, as the service task does on a first bootstrap (systemd then
      // reports the unit enabled without another daemon-reload).
      description: `enable and start etcd on ${me.name} (joins as a learner and catches up)`,
      command: `${shellJoin(['systemctl', 'enable', '--no-reload', '--', ETCD_UNIT])} && ${shellJoin(['systemctl', 'start', '--no-block', '--', ETCD_UNIT])}`,
      effects: [{ kind: 'service', name: ETCD_UNIT, active: true, enabled: true, fromStopped: true }],
    },
    {
      kind: 'command',
      description: `promote ${me.name} to a voting member once it has caught up (${sizeText(before)} -> ${sizeText(after)})`,
      command: `i=0; until ${promote} >/dev/null; do i=$((i+1)); if [ "$i" -ge ${PROMOTE_SECONDS} ]; then exit 1; fi; sleep 1; done`,
      timeoutMs: (PROMOTE_SECONDS + 30) * 1000,
    },
  ];
}

/**
 * --check on a host without etcdctl yet: the member list as another member of the run sees it
 * through the same endpoints (the real run asks from this host once etcd is installed).
 */
async function askPeer(ctx: OperationContext, cluster: ClusterSpec, others: Member[], q: EtcdQuery): Promise<EtcdMembers | undefined> {
  const ask = ctx.peers?.fact?.bind(ctx.peers);
  if (!ask) return undefined;
  for (const o of others.filter((m) => ctx.runHosts?.has(m.name))) {
    const v = await ask(o.name, etcdMembers, { ...q, tls: etcdctlTls(cluster, o.name) }).catch(() => undefined);
    if (v?.ok) {
      ctx.note(`etcdctl is not installed here yet: the members of cluster ${cluster.name} were asked through ${o.name} (the real run asks from here)`);
      return v;
    }
  }
  return undefined;
}
