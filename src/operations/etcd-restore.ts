/**
 * `provision restore`: the cluster rebuilt from one snapshot after a disaster.
 *
 * The plan (planRestore, pure: facts in, steps out, so `--check` shows exactly what runs) goes
 * in phases; each phase runs on every member at once and the next starts only when it
 * succeeded everywhere:
 *
 *  1. stop etcd on every member;
 *  2. move each member's data directory aside (`<name>.etcd.before-restore-<stamp>`: nothing
 *     is deleted);
 *  3. copy the snapshot to every member (0600) and check its SHA-256 there;
 *  4. `snapshot restore` on each member with its own name and peer URL, the whole initial
 *     cluster and a NEW cluster token (the restored cluster gets a new cluster id, so a stale
 *     member of the old one can never join it), then the data directory is given to etcd;
 *  5. etcd.conf as a converge would write it for a member with data (state `existing`): etcd
 *     ignores ETCD_INITIAL_CLUSTER, ETCD_DISCOVERY and ETCD_DISCOVERY_SRV once its data
 *     directory holds a WAL, so a restored member never bootstraps or discovers again, in
 *     any mode, and the next converge finds nothing to change;
 *  6. start etcd on every member together (Type=notify blocks until quorum: --no-block);
 *  7. (not a step) wait until every member is healthy, the member list is the inventory's and
 *     the revision is at least the snapshot's; then the copied snapshots are removed.
 */
import { shellJoin } from '../connection/quote.js';
import type { ClusterSpec } from '../inventory/types.js';
import { ETCD_CONF, ETCD_UNIT, memberDataDir, memberUrls, renderEtcdConf, type Member } from './etcd-conf.js';
import { etcdOffline } from './etcd-snapshot.js';

/** Where the snapshot is copied on each member while it is restored. */
export const RESTORE_SNAPSHOT_DIR = '/var/lib/etcd-snapshots';

/** What a member is like before the restore. */
export interface RestoreFacts {
  /** The member's data directory (`<data_dir>/<name>.etcd`) exists. */
  dataDir: boolean;
  /** etcd.conf as it is (undefined: none). */
  etcdConf?: string;
  /** The unit's ActiveState. */
  active?: string;
}

export type RestoreStep =
  | { host: string; kind: 'command'; description: string; command: string; timeoutMs?: number }
  | { host: string; kind: 'upload'; description: string; path: string; what: 'snapshot' | 'etcd.conf'; content?: string; mode: number; owner: string }
  | { host: string; kind: 'note'; description: string };

export interface RestorePhase {
  title: string;
  steps: RestoreStep[];
}

export interface RestorePlan {
  /** The token the restored cluster is made with. */
  token: string;
  /** member -> where its old data directory goes (only members that have one). */
  asides: Record<string, string>;
  /** member -> where the snapshot is copied. */
  snapshotOn: string;
  phases: RestorePhase[];
}

export interface RestoreInput {
  cluster: ClusterSpec;
  members: Member[];
  facts: Record<string, RestoreFacts>;
  /** SHA-256 of the snapshot (checked on every member after the copy). */
  sha256: string;
  /** UTC stamp of this restore (fileStamp with Z): names the moved-aside directories and the token. */
  stamp: string;
  /** Discovery mode: the URL a member's etcd.conf keeps (the one it joined with), when the member has none. */
  discoveryUrl?: string;
}

const discoveryOf = (conf: string | undefined): string | undefined => (conf ? /^ETCD_DISCOVERY="([^"]+)"$/m.exec(conf)?.[1] : undefined);

/** The new cluster token: the inventory's, marked with the restore's time (still a valid token). */
export const restoreToken = (cluster: ClusterSpec, stamp: string): string => `${cluster.token}-restore-${stamp.toLowerCase()}`;

/** etcd.conf of a restored member: what etcd_config renders for a member with data. */
export function restoredConf(cluster: ClusterSpec, members: Member[], self: string, facts: RestoreFacts, discoveryUrl?: string): string {
  const discovery = cluster.bootstrap === 'discovery' ? (discoveryOf(facts.etcdConf) ?? discoveryUrl) : undefined;
  return renderEtcdConf(cluster, members, self, 'existing', discovery);
}

export function planRestore(input: RestoreInput): RestorePlan {
  const { cluster, members, facts, stamp } = input;
  const token = restoreToken(cluster, stamp);
  const snapshotOn = `${RESTORE_SNAPSHOT_DIR}/${cluster.name}-restore-${stamp}.db`;
  const initialCluster = members.map((m) => `${m.name}=${memberUrls(cluster, m).peer}`).join(',');
  const asides: Record<string, string> = {};
  const each = (f: (m: Member, facts: RestoreFacts) => RestoreStep | RestoreStep[]): RestoreStep[] =>
    members.flatMap((m) => f(m, facts[m.name] ?? { dataDir: false }));

  const stop = each((m, f) => ({
    host: m.name,
    kind: 'command',
    description: f.active === 'active' || f.active === 'activating' ? `stop etcd (it is ${f.active})` : `stop etcd (it is ${f.active ?? 'not known'})`,
    command: shellJoin(['systemctl', 'stop', '--', ETCD_UNIT]),
    timeoutMs: 120_000,
  }));
  const aside = each((m, f) => {
    const dir = memberDataDir(cluster, m.name);
    if (!f.dataDir) return { host: m.name, kind: 'note', description: `no data directory ${dir}: nothing to move aside` };
    const to = `${dir}.before-restore-${stamp}`;
    asides[m.name] = to;
    return { host: m.name, kind: 'command', description: `move ${dir} aside to ${to} (kept, not deleted)`, command: shellJoin(['mv', '-T', '--', dir, to]) };
  });
  const copy = each((m) => [
    {
      host: m.name,
      kind: 'command',
      description: `make ${RESTORE_SNAPSHOT_DIR} (0700)`,
      command: shellJoin(['mkdir', '-p', '-m', '0700', '--', RESTORE_SNAPSHOT_DIR]),
    },
    { host: m.name, kind: 'upload', description: `copy the snapshot to ${snapshotOn} (0600)`, path: snapshotOn, what: 'snapshot', mode: 0o600, owner: 'root' },
    {
      host: m.name,
      kind: 'command',
      description: `check its SHA-256 (${input.sha256.slice(0, 16)}...)`,
      command: `printf '%s  %s\\n' ${shellJoin([input.sha256, snapshotOn])} | sha256sum -c --quiet -`,
    },
  ]);
  const restore = each((m) => {
    const dir = memberDataDir(cluster, m.name);
    const peer = memberUrls(cluster, m).peer;
    return [
      {
        host: m.name,
        kind: 'command',
        description: `snapshot restore into ${dir} as ${m.name} (${peer}), cluster token ${token}`,
        command: `${etcdOffline(
          'snapshot',
          'restore',
          snapshotOn,
          `--name=${m.name}`,
          `--initial-cluster=${initialCluster}`,
          `--initial-cluster-token=${token}`,
          `--initial-advertise-peer-urls=${peer}`,
          `--data-dir=${dir}`,
        )} >/dev/null`,
        timeoutMs: 600_000,
      },
      {
        host: m.name,
        kind: 'command',
        description: `give ${dir} to etcd (owner etcd:etcd, 0700)`,
        command: `${shellJoin(['chown', '-R', 'etcd:etcd', '--', dir])} && ${shellJoin(['chmod', '0700', '--', dir])}`,
      },
    ];
  });
  const conf = each((m, f) => {
    const content = restoredConf(cluster, members, m.name, f, input.discoveryUrl);
    if (content === f.etcdConf) return { host: m.name, kind: 'note', description: `${ETCD_CONF} is already right (ETCD_INITIAL_CLUSTER_STATE="existing")` };
    return {
      host: m.name,
      kind: 'upload',
      description: `write ${ETCD_CONF} as a converge would for a member with data (ETCD_INITIAL_CLUSTER_STATE="existing")`,
      path: ETCD_CONF,
      what: 'etcd.conf',
      content,
      mode: 0o644,
      owner: 'root',
    };
  });
  const start = each((m) => ({
    host: m.name,
    kind: 'command',
    description: 'start etcd (all members together, without waiting for quorum here)',
    command: `${shellJoin(['systemctl', 'reset-failed', '--', ETCD_UNIT])} 2>/dev/null; ${shellJoin(['systemctl', 'start', '--no-block', '--', ETCD_UNIT])}`,
  }));
  return {
    token,
    asides,
    snapshotOn,
    phases: [
      { title: 'stop etcd on every member', steps: stop },
      { title: 'move each data directory aside', steps: aside },
      { title: 'copy the snapshot to every member', steps: copy },
      { title: 'restore the snapshot on every member, with a new cluster token', steps: restore },
      { title: 'write etcd.conf', steps: conf },
      { title: 'start etcd on every member together', steps: start },
    ],
  };
}

/** Steps after the cluster is verified: the copied snapshot is removed from each member. */
export const cleanupSteps = (plan: RestorePlan, members: Member[]): RestoreStep[] =>
  members.map((m) => ({ host: m.name, kind: 'command', description: `remove ${plan.snapshotOn}`, command: shellJoin(['rm', '-f', '--', plan.snapshotOn]) }));
