/**
 * `provision backup`: a snapshot of the cluster from one healthy member, copied to the
 * controller and checked there, keeping the last N (src/util/retention.ts).
 *
 * On the member: `etcdctl snapshot save` to an unpredictable name in /var/tmp (0600), then
 * `snapshot status` (hash, revision, keys) and `sha256sum`; the file is read over the
 * connection, its SHA-256 compared with the member's, written on the controller atomically
 * (0600, in a 0700 directory), and removed from the member whatever happened.
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { shellJoin } from '../connection/quote.js';
import type { Connection } from '../connection/types.js';
import { ProvisionError } from '../errors.js';
import { etcdHealth } from '../facts/etcd.js';
import { probeFact } from '../facts/run.js';
import type { ClusterSpec } from '../inventory/types.js';
import { fileStamp } from '../util/format.js';
import { pruneLocal, type RetentionRule } from '../util/retention.js';
import { etcdctlTls, memberUrls, type Member } from './etcd-conf.js';
import { parseSha256sum, parseSnapshotStatus, snapshotSaveCommand, snapshotStatusCommand, toolError, type SnapshotStatus } from './etcd-snapshot.js';

/** Snapshots kept on the controller when the inventory does not say (`cluster.backup.keep`). */
export const DEFAULT_KEEP = 7;

/** Where backups go: `cluster.backup.dir`, else `.provision-state/backups/<cluster>/` beside the inventory. */
export const backupDirOf = (inventoryFile: string, cluster: ClusterSpec): string =>
  cluster.backup?.dir ?? path.join(path.dirname(path.resolve(inventoryFile)), '.provision-state', 'backups', cluster.name);

/** A backup's file name: `<cluster>-<UTC stamp>-<member>.db`, so that name order is time order. */
export const backupName = (cluster: string, member: string, date: Date): string => `${cluster}-${fileStamp(date, true)}-${member}.db`;

/** The retention rule of a cluster's backups (names from backupName). */
export const backupRetention = (cluster: ClusterSpec, keep?: number): RetentionRule => ({
  prefix: `${cluster.name}-`,
  suffix: '.db',
  keep: keep ?? cluster.backup?.keep ?? DEFAULT_KEEP,
  stamp: true,
});

/** A member, and the connection to it or why there is none. */
export interface MemberLink {
  member: Member;
  conn?: Connection;
  /** Why the host could not be reached. */
  unreachable?: string;
}

export interface BackupResult {
  cluster: string;
  /** The member the snapshot was taken from. */
  member: string;
  file: string;
  bytes: number;
  sha256: string;
  status: SnapshotStatus;
  /** Backups of this cluster in the directory after pruning (oldest first), and those removed. */
  kept: string[];
  removed: string[];
  durationMs: number;
  /** Members not used, with the reason (unreachable, unhealthy). */
  skipped: Record<string, string>;
}

/** The first member (inventory order) that is reachable and whose own endpoint is healthy. */
export async function healthyMember(cluster: ClusterSpec, links: MemberLink[]): Promise<{ link?: MemberLink; skipped: Record<string, string> }> {
  const skipped: Record<string, string> = {};
  const checks = await Promise.all(
    links.map(async (l) => {
      if (!l.conn) return `unreachable: ${l.unreachable ?? 'no connection'}`;
      const q = { endpoints: [memberUrls(cluster, l.member).client], tls: etcdctlTls(cluster, l.member.name) };
      try {
        const h = await probeFact(l.conn, etcdHealth, q);
        return h.length > 0 && h.every((x) => x.healthy) ? undefined : `not healthy: ${h.map((x) => x.error).find(Boolean) ?? 'unhealthy'}`;
      } catch (e) {
        return (e as Error).message;
      }
    }),
  );
  let link: MemberLink | undefined;
  links.forEach((l, i) => {
    if (checks[i] === undefined && !link) link = l;
    else if (checks[i] !== undefined) skipped[l.member.name] = checks[i]!;
  });
  return { ...(link ? { link } : {}), skipped };
}

/** Takes the snapshot on `link`'s member and brings it to `dir`; see the file's comment. */
export async function backup(
  cluster: ClusterSpec,
  link: MemberLink,
  dir: string,
  opts: { keep?: number; now?: Date; timeoutMs?: number } = {},
): Promise<Omit<BackupResult, 'skipped'>> {
  const conn = link.conn!;
  const started = Date.now();
  const self = link.member;
  const q = { endpoints: [memberUrls(cluster, self).client], tls: etcdctlTls(cluster, self.name) };
  const remote = `/var/tmp/provision-backup-${cluster.name}-${randomBytes(8).toString('hex')}.db`;
  const fail = (what: string, r: { stderr: string; exitCode: number }) =>
    new ProvisionError('COMMAND', `backup of cluster ${cluster.name} on ${self.name}: ${what} failed: ${toolError(r.stderr, r.exitCode)}`);
  let data: Buffer;
  let status: SnapshotStatus;
  try {
    const saved = await conn.exec(snapshotSaveCommand(q, remote), { timeoutMs: opts.timeoutMs ?? 600_000 });
    if (saved.exitCode !== 0) throw fail('etcdctl snapshot save', saved);
    const [st, sum] = await Promise.all([conn.exec(snapshotStatusCommand(remote)), conn.exec(shellJoin(['sha256sum', '--', remote]))]);
    if (st.exitCode !== 0) throw fail('snapshot status', st);
    const parsed = parseSnapshotStatus(st.stdout);
    if (!parsed) throw new ProvisionError('COMMAND', `backup on ${self.name}: unexpected output from snapshot status: ${st.stdout.slice(0, 200)}`);
    status = parsed;
    const remoteSha = sum.exitCode === 0 ? parseSha256sum(sum.stdout) : undefined;
    if (!remoteSha) throw fail('sha256sum', sum);
    const read = await conn.readFile(remote);
    if (!read) throw new ProvisionError('COMMAND', `backup on ${self.name}: the snapshot ${remote} vanished before it was copied`);
    data = read;
    const localSha = createHash('sha256').update(data).digest('hex');
    if (localSha !== remoteSha)
      throw new ProvisionError(
        'COMMAND',
        `backup from ${self.name}: the copy differs from the snapshot on the member (sha256 ${localSha}, member ${remoteSha})`,
      );
  } finally {
    await conn.exec(shellJoin(['rm', '-f', '--', remote, `${remote}.part`])).catch(() => undefined);
  }
  // Names are stamped to the second: a second backup within it gets a number, never overwrites.
  const first = path.join(dir, backupName(cluster.name, self.name, opts.now ?? new Date()));
  let file = first;
  for (let n = 2; fs.existsSync(file); n++) file = first.replace(/\.db$/, `-${n}.db`);
  writeLocalAtomic(file, data);
  const { kept, removed } = pruneLocal(dir, backupRetention(cluster, opts.keep));
  return {
    cluster: cluster.name,
    member: self.name,
    file,
    bytes: data.length,
    sha256: createHash('sha256').update(data).digest('hex'),
    status,
    kept,
    removed,
    durationMs: Date.now() - started,
  };
}

/** A private directory (0700, made if missing; refused when it is a symbolic link). */
export function privateDir(dir: string): void {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const st = fs.lstatSync(dir);
  if (!st.isDirectory())
    throw new ProvisionError('USAGE', `${dir} is not a directory${st.isSymbolicLink() ? ' (a symbolic link)' : ''}; it is where backups go`);
}

/** Atomic, 0600: a temp file beside the target, flushed, renamed over it. */
export function writeLocalAtomic(file: string, data: Buffer): void {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const fd = fs.openSync(tmp, 'wx', 0o600);
  try {
    fs.writeSync(fd, data);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  try {
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
}
