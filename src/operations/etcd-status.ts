/**
 * The state of a cluster as it is, read from each member over its own connection and
 * changing nothing: the unit, etcd's endpoint status (version, leader, raft term and index,
 * database size and in-use size), health, alarms, and the days left on its certificates.
 * Used by `provision <inventory> status`.
 */
import { X509Certificate } from 'node:crypto';
import type { Connection } from '../connection/types.js';
import { etcdError, etcdHealth, etcdMembers, etcdctl, quoteBigInts, type EtcdQuery } from '../facts/etcd.js';
import { probeFact } from '../facts/run.js';
import { systemdUnit } from '../facts/systemd.js';
import type { ClusterSpec } from '../inventory/types.js';
import { ETCD_UNIT, etcdTlsPaths, etcdctlTls, memberUrls, type Member } from './etcd-conf.js';

/** Certificates closer than this to their end are a warning. */
export const CERT_WARN_DAYS = 30;

export interface CertStatus {
  /** ca | member | client */
  role: string;
  path: string;
  /** Whole days until notAfter (negative once expired); undefined when the file is unreadable. */
  daysLeft?: number;
  notAfter?: string;
  error?: string;
}

export interface MemberStatus {
  name: string;
  address: string;
  /** False when the member's host could not be reached over SSH. */
  reachable: boolean;
  unit?: { active: string; sub: string; enabled: string };
  /** From `etcdctl endpoint status` on this member. */
  memberId?: string;
  version?: string;
  /** The leader as this member sees it (a member name, or the id when unknown). */
  leader?: string;
  isLeader?: boolean;
  raftTerm?: number;
  raftIndex?: number;
  dbSize?: number;
  dbSizeInUse?: number;
  healthy: boolean;
  alarms: string[];
  certs: CertStatus[];
  /** Everything that could not be read, in words. */
  errors: string[];
}

export interface ClusterStatus {
  cluster: string;
  bootstrap: string;
  tls: boolean;
  members: MemberStatus[];
  /** Member names as the cluster lists them (from a member that answered), if any did. */
  listed?: string[];
  healthy: boolean;
  problems: string[];
  warnings: string[];
}

const hex = (v: unknown): string => BigInt(String(v ?? 0)).toString(16);

interface EndpointStatus {
  memberId: string;
  leaderId: string;
  version: string;
  raftTerm: number;
  raftIndex: number;
  dbSize: number;
  dbSizeInUse?: number;
  errors: string[];
}

/** `etcdctl endpoint status -w json` output -> the fields we show. */
export function parseEndpointStatus(stdout: string): EndpointStatus | undefined {
  try {
    const list = JSON.parse(quoteBigInts(stdout)) as { Status?: Record<string, unknown> }[];
    const s = list[0]?.Status;
    if (!s) return undefined;
    const header = (s.header ?? {}) as Record<string, unknown>;
    return {
      memberId: hex(header.member_id),
      leaderId: hex(s.leader),
      version: String(s.version ?? ''),
      raftTerm: Number(s.raftTerm ?? header.raft_term ?? 0),
      raftIndex: Number(s.raftIndex ?? 0),
      dbSize: Number(s.dbSize ?? 0),
      ...(s.dbSizeInUse !== undefined ? { dbSizeInUse: Number(s.dbSizeInUse) } : {}),
      errors: Array.isArray(s.errors) ? s.errors.map(String) : [],
    };
  } catch {
    return undefined;
  }
}

/** `etcdctl alarm list` lines (`memberID:123 alarm:NOSPACE`) -> alarm names with the member id. */
export function parseAlarms(stdout: string): { memberId: string; alarm: string }[] {
  return stdout
    .split('\n')
    .map((l) => /memberID:(\d+)\s+alarm:(\S+)/.exec(l))
    .filter((m): m is RegExpExecArray => !!m)
    .map((m) => ({ memberId: hex(m[1]), alarm: m[2]! }));
}

/** Days from `now` to a PEM certificate's notAfter. */
export function certDaysLeft(pem: string | Buffer, now = Date.now()): { daysLeft: number; notAfter: string } {
  const cert = new X509Certificate(pem);
  const end = Date.parse(cert.validTo);
  return { daysLeft: Math.floor((end - now) / 86_400_000), notAfter: new Date(end).toISOString() };
}

/** One member's status, read on the member itself. */
export async function memberStatus(
  conn: Connection,
  cluster: ClusterSpec,
  members: Member[],
  self: Member,
): Promise<MemberStatus & { listed?: { id: string; name: string; started: boolean }[] }> {
  const out: MemberStatus & { listed?: { id: string; name: string; started: boolean }[] } = {
    name: self.name,
    address: self.address,
    reachable: true,
    healthy: false,
    alarms: [],
    certs: [],
    errors: [],
  };
  const q: EtcdQuery = { endpoints: [memberUrls(cluster, self).client], tls: etcdctlTls(cluster, self.name) };
  const [unit, status, health, alarms, list] = await Promise.all([
    probeFact(conn, systemdUnit, { name: ETCD_UNIT }).catch((e: Error) => e),
    conn.exec(etcdctl(q, 'endpoint', 'status', '-w', 'json')),
    probeFact(conn, etcdHealth, q),
    conn.exec(etcdctl(q, 'alarm', 'list')),
    probeFact(conn, etcdMembers, q),
  ]);
  if (unit instanceof Error) out.errors.push(`unit: ${unit.message}`);
  else out.unit = { active: unit.activeState, sub: unit.subState, enabled: unit.unitFileState };
  const st = status.exitCode === 0 ? parseEndpointStatus(status.stdout) : undefined;
  if (!st) out.errors.push(`endpoint status: ${status.exitCode === 0 ? 'unexpected output' : etcdError(status.stderr, status.exitCode)}`);
  const names = new Map(list.ok ? list.members.map((m) => [m.id, m.name]) : []);
  if (list.ok) out.listed = list.members.map((m) => ({ id: m.id, name: m.name, started: m.started }));
  if (st) {
    Object.assign(out, {
      memberId: st.memberId,
      version: st.version,
      leader: st.leaderId === '0' ? undefined : (names.get(st.leaderId) ?? st.leaderId),
      isLeader: st.leaderId !== '0' && st.leaderId === st.memberId,
      raftTerm: st.raftTerm,
      raftIndex: st.raftIndex,
      dbSize: st.dbSize,
      ...(st.dbSizeInUse !== undefined ? { dbSizeInUse: st.dbSizeInUse } : {}),
    });
    out.errors.push(...st.errors);
  }
  out.healthy = health.length > 0 && health.every((h) => h.healthy);
  if (!out.healthy)
    out.errors.push(
      `health: ${
        health
          .map((h) => h.error)
          .filter(Boolean)
          .join('; ') || 'unhealthy'
      }`,
    );
  if (alarms.exitCode === 0)
    out.alarms = parseAlarms(alarms.stdout).map((a) =>
      a.memberId === out.memberId || !out.memberId ? a.alarm : `${a.alarm} (member ${names.get(a.memberId) ?? a.memberId})`,
    );
  const tls = etcdTlsPaths(cluster, self.name);
  if (tls) {
    for (const [role, path] of [
      ['ca', tls.ca],
      ['member', tls.cert],
      ['client', tls.clientCert],
    ] as const) {
      try {
        const pem = await conn.readFile(path);
        if (!pem) out.certs.push({ role, path, error: 'missing' });
        else out.certs.push({ role, path, ...certDaysLeft(pem) });
      } catch (e) {
        out.certs.push({ role, path, error: (e as Error).message });
      }
    }
  }
  return out;
}

/** Whether the cluster is healthy, and if not, why (each problem names its member). */
export function judge(cluster: ClusterSpec, members: (MemberStatus & { listed?: { id: string; name: string; started: boolean }[] })[]): ClusterStatus {
  const problems: string[] = [];
  const warnings: string[] = [];
  for (const m of members) {
    if (!m.reachable) {
      problems.push(`${m.name}: unreachable (${m.errors.join('; ')})`);
      continue;
    }
    if (m.unit && m.unit.active !== 'active') problems.push(`${m.name}: unit ${ETCD_UNIT} is ${m.unit.active} (${m.unit.sub})`);
    if (!m.healthy) problems.push(`${m.name}: not healthy${m.errors.length ? ` (${m.errors.join('; ')})` : ''}`);
    for (const a of m.alarms) problems.push(`${m.name}: alarm ${a}`);
    for (const c of m.certs) {
      if (c.error) problems.push(`${m.name}: certificate ${c.path}: ${c.error}`);
      else if (c.daysLeft! < 0) problems.push(`${m.name}: certificate ${c.path} expired ${-c.daysLeft!} days ago`);
      else if (c.daysLeft! < CERT_WARN_DAYS)
        warnings.push(`${m.name}: certificate ${c.path} expires in ${c.daysLeft} days (a run of provision makes new ones)`);
    }
  }
  const leaders = new Set(members.filter((m) => m.healthy && m.leader).map((m) => m.leader!));
  if (leaders.size > 1) problems.push(`members disagree on the leader: ${[...leaders].join(', ')}`);
  if (members.some((m) => m.healthy) && leaders.size === 0) problems.push('no leader');
  const listedBy = members.find((m) => m.listed);
  const listed = listedBy?.listed;
  if (listed) {
    for (const m of members) if (!listed.some((x) => x.name === m.name)) problems.push(`${m.name}: not in the cluster's member list`);
    for (const x of listed) {
      if (!x.started) problems.push(`member ${x.id} was added but has not started`);
      else if (!members.some((m) => m.name === x.name)) problems.push(`${x.name} (${x.id}) is a member but not in the inventory`);
    }
  }
  return {
    cluster: cluster.name,
    bootstrap: cluster.bootstrap,
    tls: !!cluster.tls,
    members: members.map(({ listed: _l, ...m }) => m),
    ...(listed ? { listed: listed.map((x) => x.name || `(unstarted ${x.id})`) } : {}),
    healthy: problems.length === 0,
    problems,
    warnings,
  };
}
