/**
 * Shrinking a live cluster. `etcd_remove_members` (on the members) removes from the cluster
 * every member it lists that the inventory does not (`member remove`), through a member that
 * stays, one at a time, each only if the members left keep a quorum (etcd-membership.ts).
 * `etcd_retire` (on the hosts of cluster.retired, after the members' play) then stops and
 * disables etcd there and moves its data directory aside; it never touches a host the
 * cluster still lists.
 */
import { shellJoin } from '../connection/quote.js';
import { ProvisionError } from '../errors.js';
import { etcdctl, etcdHealth, etcdMembers, type EtcdMember, type EtcdQuery, type EtcdTls } from '../facts/etcd.js';
import { pathExists } from '../facts/path.js';
import { systemdUnit } from '../facts/systemd.js';
import type { ClusterSpec } from '../inventory/types.js';
import type { CommandStep } from '../plan/types.js';
import { fileStamp } from '../util/format.js';
import { clusterMembers, ETCD_UNIT, etcdctlTls, memberDataDir, memberUrls, type Member } from './etcd-conf.js';
import { clusterOf, sickAfterRun } from './etcd-cluster.js';
import { retryWhileUnhealthy, UNHEALTHY_RETRY_SECONDS } from './etcd-join.js';
import { isMember, listedAs, planShrink, sizeText, type RemovalPlan } from './etcd-membership.js';
import { defineOperation, type ArgSpec, type OperationContext } from './types.js';
import { withDefaults } from './util.js';

/** The cluster as a member sees it: the list, and which listed members answer. */
interface View {
  listed: EtcdMember[];
  healthy: Set<string>;
}

async function readView(ctx: OperationContext, q: EtcdQuery, tls: EtcdTls | undefined, fresh = false): Promise<View | { error: string }> {
  const read = fresh && ctx.probe ? ctx.probe.bind(ctx) : ctx.fact.bind(ctx);
  const list = await read(etcdMembers, q);
  if (!list.ok) return { error: list.error };
  const endpoints = [...new Set(list.members.flatMap((x) => x.clientURLs))];
  const health = endpoints.length ? await read(etcdHealth, { endpoints, tls }) : [];
  const up = new Set(health.filter((h) => h.healthy).map((h) => h.endpoint));
  return { listed: list.members, healthy: new Set(list.members.filter((x) => x.clientURLs.some((c) => up.has(c))).map((x) => x.id)) };
}

/** Names of the inventory members that the cluster lists and that do not answer. */
const sickMembers = (cluster: ClusterSpec, members: Member[], v: View): string[] =>
  members
    .filter((m) => {
      const x = listedAs(cluster, m, v.listed);
      return x && !x.isLearner && !v.healthy.has(x.id);
    })
    .map((m) => m.name);

const refuse = (p: Extract<RemovalPlan, { refused: string }>): never => {
  throw new ProvisionError('COMMAND', p.refused, { hint: p.hint });
};

const removeArgs: Record<string, ArgSpec> = {
  timeout: { type: 'number', default: 90, description: 'seconds to wait for members this run brings back before deciding' },
};

export const etcdRemoveMembersOp = defineOperation<{ timeout?: number }>({
  name: 'etcd_remove_members',
  description: 'Remove from the cluster the members the inventory no longer lists, one at a time, keeping quorum',
  args: removeArgs,
  async plan(ctx, raw) {
    const a = withDefaults(removeArgs, raw);
    const { cluster, members } = clusterOf(ctx, 'etcd_remove_members');
    const tls = etcdctlTls(cluster, ctx.host.name);
    const q: EtcdQuery = { endpoints: members.map((m) => memberUrls(cluster, m).client), tls, dialTimeout: '1s' };
    // The list alone first: health is read only when there is a member to remove (the usual
    // run has none, and one etcdctl call less per member).
    const list = await ctx.fact(etcdMembers, q);
    // No member answers: a cluster being bootstrapped (or down; verification says so).
    if (!list.ok || !list.members.some((x) => !members.some((m) => isMember(cluster, m, x)))) return { steps: [] };
    const first = await readView(ctx, q, tls);
    if ('error' in first) return { steps: [] };
    let v: View = first;
    // Decided with the members this run brings back counted as they will be.
    const sick = await sickAfterRun(
      ctx,
      cluster,
      sickMembers(cluster, members, v),
      async () => {
        const fresh = await readView(ctx, q, tls, true);
        if ('error' in fresh) return members.map((m) => m.name);
        v = fresh;
        return sickMembers(cluster, members, fresh);
      },
      a.timeout! * 1000,
    );
    const healthy = new Set(v.healthy);
    for (const m of members) {
      const x = listedAs(cluster, m, v.listed);
      if (x && !sick.includes(m.name)) healthy.add(x.id);
    }
    const p = planShrink(cluster, members, v.listed, healthy);
    if ('refused' in p) return refuse(p);
    // One member makes the change: the first member of the inventory in this run that the
    // cluster lists as started and that answers (never a member that is being removed).
    const through = members.find((m) => {
      const x = listedAs(cluster, m, v.listed);
      return ctx.runHosts?.has(m.name) !== false && x?.started && !x.isLearner && healthy.has(x.id);
    });
    if (!through) return { steps: [] };
    if (through.name !== ctx.host.name) {
      ctx.note(`${p.removals.map((r) => r.name).join(', ')}: removed from cluster ${cluster.name} through ${through.name}`);
      return { steps: [] };
    }
    for (const w of p.warnings) ctx.note(w);
    const retired = new Set(cluster.retired ?? []);
    for (const r of p.removals)
      if (!retired.has(r.name))
        ctx.note(`${r.name} is not in cluster.retired: it is removed from the cluster, but its host is left as it is (stop etcd there yourself)`);
    const via: EtcdQuery = {
      endpoints: members
        .filter((m) => {
          const x = listedAs(cluster, m, v.listed);
          return x?.started && healthy.has(x.id);
        })
        .map((m) => memberUrls(cluster, m).client),
      tls,
    };
    const steps: CommandStep[] = p.removals.map((r) => ({
      kind: 'command',
      description:
        `remove ${r.name} (${r.id}${r.healthy ? '' : ', not answering'}${r.learner ? ', a learner' : ''}) from cluster ${cluster.name}: ` +
        (r.learner ? `${sizeText(r.sizeBefore)}, unchanged` : `${sizeText(r.sizeBefore)} -> ${sizeText(r.sizeAfter)}`),
      command: retryWhileUnhealthy(etcdctl(via, 'member', 'remove', r.id)),
      timeoutMs: (UNHEALTHY_RETRY_SECONDS + 30) * 1000,
    }));
    return { steps };
  },
});

const retireArgs: Record<string, ArgSpec> = {
  aside: { type: 'string', default: 'retired', description: 'the data directory is renamed <dir>.<aside>-<time>' },
};

export const etcdRetireOp = defineOperation<{ aside?: string }>({
  name: 'etcd_retire',
  description: 'On a host of cluster.retired that the cluster no longer lists: stop and disable etcd, move its data aside',
  args: retireArgs,
  async plan(ctx, raw) {
    const a = withDefaults(retireArgs, raw);
    const cluster = ctx.cluster ?? ctx.inventory.cluster;
    const self = ctx.host.name;
    if (!cluster) throw new ProvisionError('PLAYBOOK', 'etcd_retire: the inventory defines no etcd cluster');
    if (!(cluster.retired ?? []).includes(self))
      throw new ProvisionError('PLAYBOOK', `etcd_retire: host ${self} is not in cluster.retired of etcd cluster ${cluster.name}`, {
        hint: 'run this task on the group etcd_retired only',
      });
    const members = clusterMembers(ctx.inventory, cluster);
    const me: Member = { name: self, address: ctx.host.connection.address };
    const tls = etcdctlTls(cluster, self);
    const q: EtcdQuery = { endpoints: members.map((m) => memberUrls(cluster, m).client), tls, dialTimeout: '1s' };
    const [v, unit, data] = await Promise.all([
      readView(ctx, q, tls),
      ctx.fact(systemdUnit, { name: 'etcd' }),
      ctx.fact(pathExists, { path: memberDataDir(cluster, self) }),
    ]);
    const running = unit.loadState !== 'not-found' && ['active', 'activating', 'reloading'].includes(unit.activeState);
    if ('error' in v) {
      // Without an answer from the cluster nobody can say it no longer counts on this member.
      if (running)
        throw new ProvisionError(
          'COMMAND',
          `not stopping etcd on ${self}: the members of cluster ${cluster.name} do not answer (${v.error}), so it may still be one of them`,
          {
            hint: 'bring the cluster back (provision <inventory> status), then run again',
          },
        );
    } else {
      const x = listedAs(cluster, me, v.listed);
      if (x) {
        const p = planShrink(cluster, members, v.listed, v.healthy);
        if (!ctx.check || 'refused' in p)
          throw new ProvisionError(
            'COMMAND',
            `not stopping etcd on ${self}: cluster ${cluster.name} still lists it (${x.id})${'refused' in p ? `, and ${p.refused}` : ''}`,
            {
              hint:
                'refused' in p
                  ? p.hint
                  : 'it is stopped only once it has been removed from the cluster (the task that removes it failed or did not run); run again',
            },
          );
        ctx.note(`${self} is removed from cluster ${cluster.name} earlier in this run; then:`);
      }
    }
    const steps: CommandStep[] = [];
    // Until its data is moved aside the host has not been retired: etcd is stopped and disabled
    // then whatever systemd says now (a removed member's etcd exits by itself, and a unit enabled
    // with --no-reload may still read "disabled" until the next daemon-reload).
    if (running || data)
      steps.push({
        kind: 'command',
        description: `stop ${ETCD_UNIT} (${self} has left cluster ${cluster.name})`,
        command: shellJoin(['systemctl', 'stop', '--', ETCD_UNIT]),
        effects: [{ kind: 'service', name: ETCD_UNIT, active: false }],
      });
    if (unit.loadState !== 'not-found' && (unit.unitFileState === 'enabled' || data))
      steps.push({
        kind: 'command',
        description: `disable ${ETCD_UNIT}`,
        command: shellJoin(['systemctl', 'disable', '--', ETCD_UNIT]),
        effects: [{ kind: 'service', name: ETCD_UNIT, enabled: false }],
      });
    if (data) {
      const dir = memberDataDir(cluster, self);
      const to = `${dir}.${a.aside}-${fileStamp(new Date())}`;
      steps.push({
        kind: 'command',
        description: `move the data directory aside (nothing is deleted): ${dir} -> ${to}`,
        command: shellJoin(['mv', '-T', '--', dir, to]),
        effects: [{ kind: 'path', path: dir, state: 'absent' }],
      });
    }
    return { steps };
  },
});
