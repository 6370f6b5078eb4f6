import { etcdError } from '../facts/etcd.js';
/**
 * etcd snapshots as files: the commands that save, inspect and restore one on a member, and
 * the parsing of what they print. Used by `provision backup` (etcd-backup.ts) and `provision
 * restore` (etcd-restore.ts). etcd 3.5 moved the offline commands (status, restore) to
 * etcdutl and 3.6 removed them from etcdctl: the member uses etcdutl when it has it.
 */
import { shellJoin } from '../connection/quote.js';
import { etcdctl, quoteBigInts, type EtcdQuery } from '../facts/etcd.js';

export interface SnapshotStatus {
  /** etcd's hash of the database (as etcdctl prints it, decimal). */
  hash: string;
  revision: number;
  totalKeys: number;
  totalSize: number;
}

/** etcdutl when the member has it, else etcdctl (API v3), with the given arguments. */
const OFFLINE = 'if command -v etcdutl >/dev/null 2>&1; then exec etcdutl "$@"; fi; ETCDCTL_API=3 exec etcdctl "$@"';

/** An offline snapshot command (`snapshot status|restore ...`) on a member. */
export const etcdOffline = (...args: string[]): string => shellJoin(['sh', '-c', OFFLINE, 'sh', ...args]);

/** Saves a snapshot of the member `q` names to `path` (0600: the snapshot holds every key). */
export const snapshotSaveCommand = (q: EtcdQuery, path: string): string => `umask 077 && ${etcdctl(q, 'snapshot', 'save', path)} >/dev/null`;

export const snapshotStatusCommand = (path: string): string => etcdOffline('snapshot', 'status', path, '-w', 'json');

/** `snapshot status -w json` -> its figures; undefined when the output is not that. */
export function parseSnapshotStatus(stdout: string): SnapshotStatus | undefined {
  const line = stdout
    .split('\n')
    .map((l) => l.trim())
    .find((l) => l.startsWith('{'));
  if (!line) return undefined;
  try {
    const j = JSON.parse(quoteBigInts(line)) as Record<string, unknown>;
    if (j.revision === undefined || j.totalKey === undefined) return undefined;
    return { hash: String(j.hash ?? ''), revision: Number(j.revision), totalKeys: Number(j.totalKey), totalSize: Number(j.totalSize ?? 0) };
  } catch {
    return undefined;
  }
}

/** `sha256sum FILE` -> the hex digest. */
export const parseSha256sum = (stdout: string): string | undefined => /^([0-9a-f]{64})\s/.exec(stdout.trim())?.[1];

/** etcdctl/etcdutl's own error line (the one reading of it, in facts/etcd.ts). */
export const toolError = etcdError;

/** How many keys the cluster holds and its revision, read through `q`'s endpoint (the count is of the whole range, whatever the limit). */
export const keyCountCommand = (q: EtcdQuery): string => etcdctl(q, 'get', '', '--prefix', '--keys-only', '--limit=1', '-w', 'json');

export function parseKeyCount(stdout: string): { count: number; revision: number } | undefined {
  try {
    const j = JSON.parse(quoteBigInts(stdout)) as { count?: unknown; header?: { revision?: unknown } };
    return { count: Number(j.count ?? 0), revision: Number(j.header?.revision ?? 0) };
  } catch {
    return undefined;
  }
}

/** Human size: 20 kB, 1.4 MB. */
export const sizeOf = (n: number): string => (n < 1024 ? `${n} B` : n < 1024 * 1024 ? `${(n / 1024).toFixed(0)} kB` : `${(n / 1024 / 1024).toFixed(1)} MB`);
