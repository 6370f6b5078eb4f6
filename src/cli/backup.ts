/**
 * `provision backup <inventory> [--to DIR] [--keep N] [--json]`: a snapshot of the cluster on
 * the controller (src/operations/etcd-backup.ts).
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ProvisionError } from '../errors.js';
import { backup, backupDirOf, healthyMember, privateDir, DEFAULT_KEEP } from '../operations/etcd-backup.js';
import { sizeOf } from '../operations/etcd-snapshot.js';
import { COMMON_OPTIONS, COMMON_USAGE, inventoryArg } from './common-options.js';
import type { MainIO } from './main.js';
import { connectMembers, loadCluster } from './members.js';
import type { OutputRedactor } from './redact.js';

export const BACKUP_USAGE = `usage: provision backup <inventory> [--to DIR] [--keep N] [--json]
  takes a snapshot of the cluster from its first healthy member (etcdctl snapshot save),
  copies it to this machine (0600, written atomically), checks it (snapshot status: hash,
  revision, keys; SHA-256 of the copy against the member's), removes it from the member, and
  keeps the newest N snapshots of the cluster in the directory.

options:
  --to DIR          where the snapshot goes (default: cluster.backup.dir, else
                    .provision-state/backups/<cluster>/ beside the inventory)
  --keep N          snapshots of this cluster to keep there (default: cluster.backup.keep, else ${DEFAULT_KEEP})
  --json            one JSON document
${COMMON_USAGE}

exit codes: 0 saved, 2 bad input, 3 no member healthy or the snapshot failed, 4 no member reachable`;

export async function backupCommand(argv: string[], io: MainIO, redactor: OutputRedactor): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { ...COMMON_OPTIONS, to: { type: 'string' }, keep: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help) {
    io.stdout(BACKUP_USAGE + '\n');
    return 0;
  }
  const words = [...positionals];
  words.splice(words.indexOf('backup'), 1);
  const { file, rest } = inventoryArg(values, words, BACKUP_USAGE);
  if (rest.length) throw new ProvisionError('USAGE', `unexpected argument "${rest[0]}"`, { hint: BACKUP_USAGE });
  if (values.to !== undefined && values.to.trim() === '') throw new ProvisionError('USAGE', '--to needs a directory');
  const keep = values.keep === undefined ? undefined : Number(values.keep);
  if (keep !== undefined && (!Number.isInteger(keep) || keep < 1))
    throw new ProvisionError('USAGE', `--keep must be a whole number of at least 1, not "${values.keep}"`);

  const { inventory, cluster } = await loadCluster(file, values, io, redactor, 'back up');
  const dir = values.to !== undefined ? path.resolve(values.to) : backupDirOf(file, cluster);
  privateDir(dir);
  const access = await connectMembers(inventory, cluster, io);
  try {
    const unreachable = access.links.filter((l) => !l.conn);
    for (const l of unreachable) io.stderr(`warning: ${l.member.name} unreachable: ${l.unreachable}\n`);
    const { link, skipped } = await healthyMember(cluster, access.links);
    if (!link) {
      const why = Object.entries(skipped)
        .map(([m, w]) => `${m}: ${w}`)
        .join('; ');
      if (unreachable.length === access.links.length) {
        io.stderr(`error: no member of cluster ${cluster.name} could be reached: ${why}\n`);
        return 4;
      }
      io.stderr(`error: no member of cluster ${cluster.name} is healthy, so no snapshot was taken: ${why}\n  hint: provision ${file} status\n`);
      return 3;
    }
    const r = await backup(cluster, link, dir, keep !== undefined ? { keep } : {});
    const result = { ...r, skipped };
    if (values.json) io.stdout(JSON.stringify(result, null, 2) + '\n');
    else {
      const s = r.status;
      io.stdout(
        [
          `backup of cluster ${cluster.name} from ${r.member}: ${r.file}`,
          `  ${sizeOf(r.bytes)}, sha256 ${r.sha256}`,
          `  snapshot status: hash ${s.hash}, revision ${s.revision}, ${s.totalKeys} total keys, size ${sizeOf(s.totalSize)}`,
          `  kept ${r.kept.length} snapshot${r.kept.length === 1 ? '' : 's'} of ${cluster.name} in ${dir}${r.removed.length ? `; removed ${r.removed.map((f) => path.basename(f)).join(', ')}` : ''}`,
          ...Object.entries(skipped).map(([m, w]) => `  not used: ${m} (${w})`),
          `  took ${(r.durationMs / 1000).toFixed(2)} s`,
        ].join('\n') + '\n',
      );
    }
    return 0;
  } finally {
    await access.close();
  }
}
