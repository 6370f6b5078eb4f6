/**
 * The snapshot a member saves of the cluster before it is restarted (etcd_restart) or
 * upgraded (etcd_upgrade), and its retention: the member keeps the last `cluster.backup.keep`
 * (default 7) of its own snapshots, older ones are removed in the same step.
 */
import { shellJoin } from '../connection/quote.js';
import { etcdctl, type EtcdQuery } from '../facts/etcd.js';
import type { ClusterSpec } from '../inventory/types.js';
import type { CommandStep } from '../plan/types.js';
import { fileStamp } from '../util/format.js';

export const SNAPSHOT_DIR = '/var/lib/etcd-snapshots';
/** Snapshots kept per member when the inventory does not say (`cluster.backup.keep`). */
export const DEFAULT_KEEP = 7;

/**
 * Removes, in directory $1, all but the newest $2 files named "$3<UTC stamp>.db". Names sort
 * as their stamps (fileStamp), so no clock or mtime is read; other files are never touched.
 */
const PRUNE = `cd -- "$1" || exit 0
ls -1 | while IFS= read -r f; do case $f in "$3"[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]T*.db) printf '%s\\n' "$f";; esac; done | sort | head -n -"$2" | while IFS= read -r f; do rm -f -- "$f"; done`;

export const keepOf = (cluster: ClusterSpec): number => cluster.backup?.keep ?? DEFAULT_KEEP;

/** `<dir>/<cluster>-<member>-<stamp>.db` */
export const snapshotPath = (dir: string, cluster: ClusterSpec, self: string, now = new Date()): string =>
  `${dir.replace(/\/+$/, '')}/${cluster.name}-${self}-${fileStamp(now, true)}.db`;

/** Saves a snapshot through this member's endpoint (0600, in a 0700 directory), then prunes. */
export function memberSnapshotStep(cluster: ClusterSpec, self: string, q: EtcdQuery, dir = SNAPSHOT_DIR, now = new Date()): CommandStep {
  const file = snapshotPath(dir, cluster, self, now);
  const keep = keepOf(cluster);
  return {
    kind: 'command',
    description: `save a snapshot of the cluster to ${file} (keep the last ${keep} of ${self}'s in ${dir})`,
    command: [
      shellJoin(['mkdir', '-p', '-m', '0700', '--', dir]),
      `umask 077`,
      `${etcdctl(q, 'snapshot', 'save', file)} >/dev/null`,
      shellJoin(['sh', '-c', PRUNE, 'sh', dir, String(keep), `${cluster.name}-${self}-`]),
    ].join(' && '),
    timeoutMs: 120_000,
  };
}
