import type { Connection } from '../connection/types.js';
import { etcdHealth, etcdMembers, type EtcdMember, type EtcdQuery } from '../facts/etcd.js';
import { file, type FileFact } from '../facts/file.js';
import { probeFact } from '../facts/run.js';
import type { ClusterSpec } from '../inventory/types.js';
import type { FileStep } from '../plan/types.js';
import { clusterStateOf, ETCD_CONF, etcdctlTls, memberUrls, withClusterState, type Member } from './etcd-conf.js';
import { clusterOf, unlessPeerLost } from './etcd-cluster.js';
import { failedUnitReport, unitReport } from '../facts/systemd.js';
import { pollUntil, type PollOptions } from '../util/poll.js';
import { defineOperation, type ArgSpec, type Table, type VerifyResult } from './types.js';
import { withDefaults } from './util.js';

export interface EtcdVerifyArgs {
  timeout?: number;
  interval_ms?: number;
  /** etcd.conf to switch to INITIAL_CLUSTER_STATE="existing" once healthy. */
  path?: string;
}

/** A member as the cluster lists it, with its health. */
export type MemberRow = Omit<EtcdMember, 'isLearner'> & { healthy: boolean };

const args: Record<string, ArgSpec> = {
  timeout: { type: 'number', default: 60, description: 'seconds to wait for a healthy cluster' },
  interval_ms: { type: 'number', default: 500 },
  path: { type: 'string', default: ETCD_CONF },
};

export const etcdVerifyOp = defineOperation<EtcdVerifyArgs>({
  name: 'etcd_verify',
  description: 'Wait until etcd lists exactly the inventory members, all started and healthy',
  args,
  async plan(ctx, raw) {
    const a = withDefaults(args, raw);
    const { cluster, members } = clusterOf(ctx, 'etcd_verify');
    const query = queries(cluster, members, ctx.host.name);
    // In --check the rewrite that `then` will make is predicted here, from the conf as
    // earlier tasks were predicted to leave it; a real run decides after verifying.
    // A prefetch pass (its plan is thrown away) asks for the conf without waiting for it, so
    // that its early verification goes out in the same round trip as the facts.
    if (ctx.check && ctx.prefetch) ctx.fact(file, { path: a.path! }).catch(() => undefined);
    const predicted = ctx.check && !ctx.prefetch ? toExisting(a.path!, await ctx.fact(file, { path: a.path! })) : undefined;
    return {
      steps: predicted ? [predicted] : [],
      verify: (conn) =>
        unlessPeerLost(ctx, cluster, async (signal) => {
          const timeoutMs = ctx.check ? 0 : a.timeout! * 1000;
          // The conf is read with the first check (the same round trip on a batching
          // connection); nothing rewrites it while the cluster is being waited for.
          const conf = ctx.check ? undefined : probeFact(conn, file, { path: a.path! });
          conf?.catch(() => undefined); // a failed read is reported where it is awaited
          const r = await poll(conn, query, members, cluster, { timeoutMs, intervalMs: a.interval_ms!, signal });
          if (!r.ok && ctx.check) return dependsOnOthers(r, ctx.host.name, members, ctx.runHosts);
          const { problems: _, ...result } = r;
          if (!r.ok || ctx.check) return result;
          const then = toExisting(a.path!, await conf!);
          return then ? { ...result, then: [then] } : result;
        }),
    };
  },
});

/**
 * --check on a member with nothing to change: when what is wrong concerns only other members
 * that this run works on (and may repair), the verification is not a predicted failure.
 */
function dependsOnOthers(r: PollResult, self: string, members: Member[], runHosts: ReadonlySet<string> | undefined): VerifyResult {
  const { problems } = r;
  const others = members.filter((m) => m.name !== self && runHosts?.has(m.name)).map((m) => m.name);
  // A member the inventory no longer lists is removed earlier in the run (or that task refuses first).
  const about = (p: string) => others.find((n) => p.startsWith(`${n} `)) ?? (p.startsWith('unexpected member ') ? 'the members this run removes' : undefined);
  if (!problems.every(about)) return { ok: r.ok, message: r.message, data: r.data, table: r.table };
  const names = [...new Set(problems.map(about))].join(', ');
  return { ok: true, data: r.data, table: r.table, message: `not verified yet: it depends on ${names}, which this run works on (${problems.join('; ')})` };
}

function queries(cluster: ClusterSpec, members: Member[], self: string) {
  const tls = etcdctlTls(cluster, self);
  const urls = new Map(members.map((m) => [m.name, memberUrls(cluster, m)]));
  const endpoints = members.map((m) => urls.get(m.name)!.client);
  return {
    // The list through any member (the health below covers each one), asked as
    // etcd_remove_members asks it, so that a run's facts and its verification share one call.
    list: { endpoints, tls, dialTimeout: '1s' } as EtcdQuery,
    all: { endpoints, tls } as EtcdQuery,
    urls,
  };
}

/** FileStep switching a conf that says "new" to "existing"; undefined when nothing to do. */
function toExisting(path: string, f: FileFact): FileStep | undefined {
  if (!f.exists || f.type !== 'file' || f.content === undefined || clusterStateOf(f.content) !== 'new') return undefined;
  return {
    kind: 'file',
    description: `set ETCD_INITIAL_CLUSTER_STATE="existing" in ${path}`,
    path,
    before: f.content,
    after: withClusterState(f.content, 'existing'),
    mode: f.mode,
    owner: f.owner,
    group: f.group,
    noNotify: true,
  };
}

/** A verification's result, with what was wrong in the last check. */
type PollResult = VerifyResult & { problems: string[] };

async function poll(conn: Connection, q: ReturnType<typeof queries>, members: Member[], cluster: ClusterSpec, o: PollOptions): Promise<PollResult> {
  const read = async () => {
    const r = await checkOnce(conn, q, members);
    // etcd on this member has failed for good (systemd gave up restarting it): waiting longer cannot help.
    const failed = r.problems.length && o.timeoutMs > 0 ? await failedUnitReport(conn, 'etcd').catch(() => undefined) : undefined;
    return { ...r, failed };
  };
  const { value: r } = await pollUntil(read, (r) => r.problems.length === 0 || !!r.failed, o);
  const out = { data: r.rows, table: memberTable(r.rows), problems: r.problems };
  if (r.problems.length === 0) return { ok: true, message: `etcd cluster ${cluster.name}: ${members.length} members started and healthy`, ...out };
  if (r.failed) return { ok: false, message: `etcd failed to start on this member: ${r.problems.join('; ')}\n${r.failed}`, ...out };
  const report =
    o.timeoutMs > 0
      ? await unitReport(conn, 'etcd').then(
          (t) => `\n${t}`,
          () => '',
        )
      : '';
  return { ok: false, message: `etcd cluster ${cluster.name} not healthy after ${o.timeoutMs / 1000}s: ${r.problems.join('; ')}${report}`, ...out };
}

/** The member table, as `etcdctl member list -w table` shows it, plus health. */
export function memberTable(rows: MemberRow[]): Table {
  return {
    columns: ['ID', 'STATUS', 'NAME', 'PEER ADDRS', 'CLIENT ADDRS', 'HEALTH'],
    rows: rows.map((r) => [
      r.id,
      r.started ? 'started' : 'unstarted',
      r.name,
      r.peerURLs.join(','),
      r.clientURLs.join(','),
      r.healthy ? 'healthy' : 'unhealthy',
    ]),
  };
}

export async function checkOnce(conn: Connection, q: ReturnType<typeof queries>, members: Member[]): Promise<{ problems: string[]; rows: MemberRow[] }> {
  const [list, health] = await Promise.all([probeFact(conn, etcdMembers, q.list), probeFact(conn, etcdHealth, q.all)]);
  const healthy = new Map(health.map((h) => [h.endpoint, h]));
  const problems: string[] = [];
  if (!list.ok) problems.push(`member list: ${list.error}`);
  const listed = list.ok ? list.members : [];
  for (const m of members) {
    const u = q.urls.get(m.name)!;
    const got = listed.find((x) => x.name === m.name) ?? listed.find((x) => x.peerURLs.includes(u.peer));
    if (list.ok && !got) problems.push(`${m.name} missing`);
    else if (got && !got.started) problems.push(`${m.name} not started`);
    else if (got && got.peerURLs.join(',') !== u.peer) problems.push(`${m.name} has peer URLs ${got.peerURLs.join(',')}, expected ${u.peer}`);
    // etcd keeps a member's URLs sorted: compared as sets.
    else if (got && [...got.clientURLs].sort().join(',') !== [...u.clients].sort().join(','))
      problems.push(
        got.clientURLs.length
          ? `${m.name} advertises client URLs ${got.clientURLs.join(',')}, expected ${u.clients.join(',')}`
          : `${m.name} has not published its client URLs yet`,
      );
    const h = healthy.get(u.client);
    if (!h?.healthy) problems.push(`${m.name} unhealthy${h?.error ? ` (${h.error})` : ''}`);
  }
  for (const x of listed)
    if (!members.some((m) => m.name === x.name || q.urls.get(m.name)!.peer === x.peerURLs[0]))
      problems.push(`unexpected member ${x.name || '(unstarted)'} ${x.id} ${x.peerURLs.join(',')}`);
  const rows = listed.map((x) => ({
    id: x.id,
    name: x.name,
    peerURLs: x.peerURLs,
    clientURLs: x.clientURLs,
    started: x.started,
    healthy: x.clientURLs.some((c) => healthy.get(c)?.healthy === true),
  }));
  return { problems, rows };
}
