import { shellJoin } from '../connection/quote.js';
import { defineFact, UNKNOWABLE } from './types.js';

export interface EtcdTls {
  cacert: string;
  cert: string;
  key: string;
}
export interface EtcdQuery {
  endpoints: string[];
  tls?: EtcdTls;
  /** etcdctl --dial-timeout (etcdctl's default: 2s), for a question whose "nobody answers" is an ordinary answer. */
  dialTimeout?: string;
}

export interface EtcdMember {
  /** Hex, as etcdctl's table prints it. */
  id: string;
  /** Empty while the member has not started (added but never joined). */
  name: string;
  peerURLs: string[];
  clientURLs: string[];
  isLearner: boolean;
  started: boolean;
}
export type EtcdMembers = { ok: true; clusterId: string; members: EtcdMember[] } | { ok: false; error: string };

export interface EtcdEndpointHealth {
  endpoint: string;
  healthy: boolean;
  took: string;
  error?: string;
}

/**
 * The API version is set by a shell assignment before the command (etcdctl before 3.4 speaks
 * v2 by default), not through env(1): one process fewer per query. Every command reaches a
 * shell (the login shell, or sh -c under sudo), and no caller puts a command word before it.
 */
export const etcdctl = ({ endpoints, tls, dialTimeout }: EtcdQuery, ...rest: string[]): string =>
  'ETCDCTL_API=3 ' +
  shellJoin([
    'etcdctl',
    `--endpoints=${endpoints.join(',')}`,
    ...(dialTimeout ? [`--dial-timeout=${dialTimeout}`] : []),
    ...(tls ? [`--cacert=${tls.cacert}`, `--cert=${tls.cert}`, `--key=${tls.key}`] : []),
    ...rest,
  ]);

/** The last "Error: ..." line etcdctl/etcdutl print (their other stderr lines are JSON logs), or the last line. */
export const etcdError = (stderr: string, exitCode: number): string =>
  stderr
    .split('\n')
    .filter((l) => l.startsWith('Error:'))
    .pop()
    ?.slice(7)
    .trim() ||
  stderr.trim().split('\n').pop() ||
  `exit ${exitCode}`;

// etcd ids are uint64 and etcdctl prints them as JSON numbers beyond 2^53: JSON.parse would
// round them, so integers of 16+ digits outside strings are turned into strings first.
export function quoteBigInts(json: string): string {
  let out = '';
  for (let i = 0; i < json.length;) {
    if (json[i] === '"') {
      let j = i + 1;
      while (j < json.length && json[j] !== '"') j += json[j] === '\\' ? 2 : 1;
      out += json.slice(i, j + 1);
      i = j + 1;
    } else if (/[-\d]/.test(json[i]!)) {
      const num = /^-?[\d.eE+-]+/.exec(json.slice(i))![0];
      out += /^\d{16,}$/.test(num) ? `"${num}"` : num;
      i += num.length;
    } else out += json[i++];
  }
  return out;
}

const hex = (id: unknown): string => BigInt(String(id ?? 0)).toString(16);

export const etcdMembers = defineFact<EtcdMembers, EtcdQuery>({
  name: 'etcd_members',
  command: (q) => etcdctl(q, 'member', 'list', '-w', 'json'),
  clusterWide: true,
  // A failed question may have another answer once an earlier step has installed a package
  // (etcdctl itself); what the other members say is not this host's to predict.
  predict: (_q, earlier, probed) =>
    !probed.ok && earlier.some((s) => s.effects?.some((e) => e.kind === 'package' && e.state === 'present')) ? UNKNOWABLE : undefined,
  parse(stdout, exitCode, _q, stderr = '') {
    if (exitCode !== 0) return { ok: false, error: etcdError(stderr, exitCode) };
    try {
      const j = JSON.parse(quoteBigInts(stdout)) as { header?: { cluster_id?: unknown }; members?: Record<string, unknown>[] };
      const members = (j.members ?? []).map((m) => ({
        id: hex(m.ID),
        name: String(m.name ?? ''),
        peerURLs: (m.peerURLs as string[] | undefined) ?? [],
        clientURLs: (m.clientURLs as string[] | undefined) ?? [],
        isLearner: m.isLearner === true,
        // A member publishes its name and client URLs together when it starts; one that was in
        // the initial cluster of a static bootstrap is listed with its name before that.
        started: Boolean(m.name) && ((m.clientURLs as string[] | undefined) ?? []).length > 0,
      }));
      return { ok: true, clusterId: hex(j.header?.cluster_id), members };
    } catch {
      return { ok: false, error: `unexpected output from etcdctl member list: ${stdout.slice(0, 200)}` };
    }
  },
});

export const etcdHealth = defineFact<EtcdEndpointHealth[], EtcdQuery>({
  name: 'etcd_health',
  command: (q) => etcdctl(q, 'endpoint', 'health', '-w', 'json'),
  clusterWide: true,
  // Exit 1 with a full JSON list is the normal "some endpoint unhealthy" answer.
  parse(stdout, exitCode, { endpoints }, stderr = '') {
    let list: { endpoint?: string; health?: boolean; took?: string; error?: string }[] | undefined;
    try {
      list = JSON.parse(stdout);
    } catch {
      list = undefined;
    }
    if (!Array.isArray(list)) {
      const error = etcdError(stderr, exitCode);
      return endpoints.map((endpoint) => ({ endpoint, healthy: false, took: '', error }));
    }
    return list.map((h) => ({
      endpoint: String(h.endpoint ?? ''),
      healthy: h.health === true,
      took: String(h.took ?? ''),
      ...(h.error ? { error: h.error } : {}),
    }));
  },
});

/** The etcd server version each endpoint reports (`endpoint status`); `error` where none answered. */
export interface EtcdEndpointVersion {
  endpoint: string;
  version?: string;
  error?: string;
}

export const etcdVersions = defineFact<EtcdEndpointVersion[], EtcdQuery>({
  name: 'etcd_versions',
  command: (q) => etcdctl(q, 'endpoint', 'status', '-w', 'json'),
  clusterWide: true,
  // With an endpoint down etcdctl exits 1 and lists only those that answered.
  parse(stdout, exitCode, { endpoints }, stderr = '') {
    let list: { Endpoint?: string; Status?: { version?: string } }[] = [];
    try {
      const j = JSON.parse(quoteBigInts(stdout)) as unknown;
      if (Array.isArray(j)) list = j;
    } catch {
      list = [];
    }
    return endpoints.map((endpoint) => {
      const version = list.find((s) => s.Endpoint === endpoint)?.Status?.version;
      return version ? { endpoint, version: String(version) } : { endpoint, error: etcdError(stderr, exitCode) };
    });
  },
});

/**
 * The cluster version (the lowest minor version its members all run, decided by the leader)
 * and the server version, from the endpoint's /version (curl, with the client certificate
 * when the cluster uses TLS).
 */
export interface EtcdClusterVersion {
  ok: boolean;
  server?: string;
  cluster?: string;
  error?: string;
}

export const etcdClusterVersion = defineFact<EtcdClusterVersion, { endpoint: string; tls?: EtcdTls }>({
  name: 'etcd_cluster_version',
  command: ({ endpoint, tls }) =>
    shellJoin([
      'curl',
      '-sS',
      '--max-time',
      '5',
      ...(tls ? ['--cacert', tls.cacert, '--cert', tls.cert, '--key', tls.key] : []),
      '--',
      `${endpoint.replace(/\/+$/, '')}/version`,
    ]),
  parse(stdout, exitCode, _a, stderr = '') {
    if (exitCode !== 0) return { ok: false, error: stderr.trim().split('\n').pop() || `curl exit ${exitCode}` };
    try {
      const j = JSON.parse(stdout) as { etcdserver?: string; etcdcluster?: string };
      return { ok: true, server: j.etcdserver, cluster: j.etcdcluster };
    } catch {
      return { ok: false, error: `unexpected answer from /version: ${stdout.slice(0, 200)}` };
    }
  },
});
