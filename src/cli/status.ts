/**
 * `provision <inventory> status [--json]`: the cluster as it is, changing nothing. Each member
 * is read over its own connection (src/operations/etcd-status.ts); the exit code says whether
 * the cluster is healthy.
 */
import os from 'node:os';
import { parseArgs } from 'node:util';
import chalk from 'chalk';
import { connect as sshConnect } from '../connection/ssh.js';
import { ProvisionError, isProvisionError } from '../errors.js';
import { loadInventory } from '../inventory/index.js';
import { clusterMembers } from '../operations/etcd-conf.js';
import { judge, memberStatus, type ClusterStatus, type MemberStatus } from '../operations/etcd-status.js';
import { printable } from '../report/terminal.js';
import { applyCredentials, extraVars } from './ansible-options.js';
import { COMMON_OPTIONS, COMMON_USAGE, inventoryArg } from './common-options.js';
import type { MainIO } from './main.js';
import type { OutputRedactor } from './redact.js';
import { outputSecrets } from '../discovery/token.js';

export const STATUS_USAGE = `usage: provision <inventory> status [--json]
  the cluster's members as they are (unit, version, leader, raft term and index, database
  size and in-use size, alarms, health, days left on the TLS certificates); changes nothing.

options:
  --json            one JSON document
${COMMON_USAGE}

exit codes: 0 healthy, 3 not healthy (the problems are listed), 4 a member's host was unreachable`;

export async function statusCommand(argv: string[], io: MainIO, redactor: OutputRedactor): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { ...COMMON_OPTIONS, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help) {
    io.stdout(STATUS_USAGE + '\n');
    return 0;
  }
  const { file, rest } = inventoryArg(
    values,
    positionals.filter((p) => p !== 'status'),
    STATUS_USAGE,
  );
  if (rest.length) throw new ProvisionError('USAGE', `unexpected argument "${rest[0]}"`, { hint: STATUS_USAGE });
  const warnings: string[] = [];
  const extra = extraVars(values, process.cwd(), os.homedir(), warnings);
  const inventory = loadInventory(file, extra ? { extraVars: extra } : {});
  redactor.merge(outputSecrets(inventory));
  for (const s of inventory.secrets ?? []) redactor.add(s);
  const cluster = inventory.cluster;
  if (!cluster) {
    throw new ProvisionError('INVENTORY', `${file} has no cluster: section, so there is no cluster to show`, {
      location: { file, line: 1, col: 1 },
      hint: 'add a cluster: section (or cluster: in group_vars/all.yaml) naming its members',
    });
  }
  const members = clusterMembers(inventory, cluster);
  const creds = await applyCredentials(values, inventory, cluster.members);
  creds.secrets.forEach(redactor.add);
  for (const w of [...warnings, ...inventory.warnings]) io.stderr(`warning: ${w}\n`);

  const connect = io.connect ?? sshConnect;
  const statuses = await Promise.all(
    members.map(async (m) => {
      let conn;
      try {
        conn = await connect(inventory.hosts.get(m.name)!.connection);
      } catch (e) {
        const why = isProvisionError(e) ? e.format() : String(e);
        return { name: m.name, address: m.address, reachable: false, healthy: false, alarms: [], certs: [], errors: [why] } as MemberStatus;
      }
      try {
        return await memberStatus(conn, cluster, members, m);
      } catch (e) {
        return {
          name: m.name,
          address: m.address,
          reachable: !(isProvisionError(e) && e.code === 'CONNECT'),
          healthy: false,
          alarms: [],
          certs: [],
          errors: [isProvisionError(e) ? e.format() : String(e)],
        } as MemberStatus;
      } finally {
        await conn.close().catch(() => {});
      }
    }),
  );
  const result = judge(cluster, statuses);
  if (values.json) io.stdout(JSON.stringify(result, null, 2) + '\n');
  else io.stdout(render(result));
  if (result.members.some((m) => !m.reachable)) return 4;
  return result.healthy ? 0 : 3;
}

const size = (n: number | undefined): string => {
  if (n === undefined) return '-';
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(0)} kB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
};

function render(s: ClusterStatus): string {
  const head = ['MEMBER', 'ADDRESS', 'UNIT', 'VERSION', 'LEADER', 'TERM', 'INDEX', 'DB SIZE', 'IN USE', 'ALARMS', 'HEALTH', 'CERT DAYS'];
  const rows = s.members.map((m) =>
    [
      m.name,
      m.address,
      !m.reachable ? 'unreachable' : m.unit ? `${m.unit.active} (${m.unit.sub})` : '?',
      m.version ?? '-',
      m.leader ? `${m.leader}${m.isLeader ? ' (self)' : ''}` : '-',
      m.raftTerm?.toString() ?? '-',
      m.raftIndex?.toString() ?? '-',
      size(m.dbSize),
      size(m.dbSizeInUse),
      m.alarms.length ? m.alarms.join(',') : '-',
      m.healthy ? 'healthy' : 'UNHEALTHY',
      m.certs.length ? String(Math.min(...m.certs.map((c) => c.daysLeft ?? -Infinity))) : '-',
    ].map(printable),
  );
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) =>
    r
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  const verdict = s.healthy ? chalk.green('healthy') : chalk.red('NOT HEALTHY');
  const out = [`cluster ${s.cluster} (${s.bootstrap}${s.tls ? ', TLS' : ''}, ${s.members.length} members): ${verdict}`, line(head), ...rows.map(line)];
  if (s.problems.length) out.push('', 'problems:', ...s.problems.map((p) => `  - ${printable(p)}`));
  if (s.warnings.length) out.push('', 'warnings:', ...s.warnings.map((p) => `  - ${printable(p)}`));
  return out.join('\n') + '\n';
}
