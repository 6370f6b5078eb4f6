/**
 * `provision restore <inventory> --snapshot FILE [--force] [--check]`: the cluster rebuilt from
 * one snapshot (the plan and its reasons: src/operations/etcd-restore.ts). Every member must be
 * reachable; a cluster that still has a quorum of healthy members is refused unless --force.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { readClusterState } from '../discovery/token.js';
import { ProvisionError, isProvisionError } from '../errors.js';
import { etcdHealth, etcdMembers, type EtcdQuery } from '../facts/etcd.js';
import { pathExists } from '../facts/path.js';
import { probeFact } from '../facts/run.js';
import { systemdUnit } from '../facts/systemd.js';
import type { MemberLink } from '../operations/etcd-backup.js';
import { ETCD_CONF, ETCD_UNIT, etcdctlTls, memberDataDir, memberUrls } from '../operations/etcd-conf.js';
import { cleanupSteps, planRestore, type RestoreFacts, type RestorePlan, type RestoreStep } from '../operations/etcd-restore.js';
import {
  keyCountCommand,
  parseKeyCount,
  parseSnapshotStatus,
  sizeOf,
  snapshotStatusCommand,
  toolError,
  type SnapshotStatus,
} from '../operations/etcd-snapshot.js';
import { printable } from '../report/terminal.js';
import { fileStamp } from '../util/format.js';
import { pollUntil } from '../util/poll.js';
import { COMMON_OPTIONS, COMMON_USAGE, inventoryArg } from './common-options.js';
import type { MainIO } from './main.js';
import { connectMembers, loadCluster } from './members.js';
import type { OutputRedactor } from './redact.js';

export const RESTORE_USAGE = `usage: provision restore <inventory> --snapshot FILE [--force] [--check] [--timeout S]
  rebuilds the cluster from one snapshot (made by provision backup, or etcdctl snapshot save)
  after a disaster: stops etcd on every member, moves each data directory aside (nothing is
  deleted), copies the snapshot to every member, restores it there with the member's own name
  and peer URL and a new cluster token, writes etcd.conf for a member with data, starts all
  members together and waits until the cluster is healthy with the snapshot's data.

options:
  --snapshot FILE   the snapshot to restore (required)
  --force           restore even though the cluster still has a quorum of healthy members
                    (its current data is replaced by the snapshot's; the old data is moved aside)
  --check           show every step and change nothing
  --timeout S       how long to wait for the restored cluster to be healthy (default 180)
  --json            one JSON document
${COMMON_USAGE}

exit codes: 0 restored (or --check), 2 bad input, 3 refused or failed, 4 a member was unreachable`;

export async function restoreCommand(argv: string[], io: MainIO, redactor: OutputRedactor): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      ...COMMON_OPTIONS,
      snapshot: { type: 'string' },
      force: { type: 'boolean' },
      check: { type: 'boolean', short: 'C' },
      timeout: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    io.stdout(RESTORE_USAGE + '\n');
    return 0;
  }
  const words = [...positionals];
  words.splice(words.indexOf('restore'), 1);
  const { file, rest } = inventoryArg(values, words, RESTORE_USAGE);
  if (rest.length) throw new ProvisionError('USAGE', `unexpected argument "${rest[0]}"`, { hint: RESTORE_USAGE });
  if (values.snapshot === undefined || values.snapshot === '')
    throw new ProvisionError('USAGE', 'restore needs --snapshot FILE', { hint: 'a file made by provision backup (ls .provision-state/backups/<cluster>/)' });
  const timeoutS = values.timeout === undefined ? 180 : Number(values.timeout);
  if (!(timeoutS > 0)) throw new ProvisionError('USAGE', `--timeout must be a positive number of seconds, not "${values.timeout}"`);
  const snapshotFile = path.resolve(values.snapshot);
  const snapshot = readSnapshot(snapshotFile);
  const sha256 = createHash('sha256').update(snapshot).digest('hex');

  const { inventory, cluster } = await loadCluster(file, values, io, redactor, 'restore');
  const out = (s: string) => {
    if (!values.json) io.stdout(s + '\n');
  };
  const started = Date.now();
  const access = await connectMembers(inventory, cluster, io);
  try {
    const members = access.links.map((l) => l.member);
    const unreachable = access.links.filter((l) => !l.conn);
    if (unreachable.length) {
      for (const l of unreachable) io.stderr(`error: ${l.member.name} unreachable: ${l.unreachable}\n`);
      io.stderr(
        `error: restore needs every member of cluster ${cluster.name}; nothing was changed\n  hint: bring ${unreachable.map((l) => l.member.name).join(', ')} back (or take it out of the inventory) and run again\n`,
      );
      return 4;
    }
    const byName = new Map(access.links.map((l) => [l.member.name, l]));
    const facts: Record<string, RestoreFacts> = {};
    const health: Record<string, string | undefined> = {};
    await Promise.all(
      access.links.map(async (l) => {
        const conn = l.conn!;
        const q: EtcdQuery = { endpoints: [memberUrls(cluster, l.member).client], tls: etcdctlTls(cluster, l.member.name) };
        const [dataDir, unit, conf, h] = await Promise.all([
          probeFact(conn, pathExists, { path: memberDataDir(cluster, l.member.name) }),
          probeFact(conn, systemdUnit, { name: ETCD_UNIT }).catch(() => undefined),
          conn.readFile(ETCD_CONF),
          probeFact(conn, etcdHealth, q),
        ]);
        facts[l.member.name] = { dataDir, ...(conf ? { etcdConf: conf.toString('utf8') } : {}), ...(unit ? { active: unit.activeState } : {}) };
        health[l.member.name] = h.length > 0 && h.every((x) => x.healthy) ? undefined : (h.map((x) => x.error).find(Boolean) ?? 'unhealthy');
      }),
    );
    const healthy = members.filter((m) => health[m.name] === undefined).map((m) => m.name);
    const quorum = Math.floor(members.length / 2) + 1;
    const serving = healthy.length >= quorum;
    if (serving && !values.force) {
      io.stderr(
        `error: cluster ${cluster.name} is serving: ${healthy.length} of ${members.length} members healthy (${healthy.join(', ')}; quorum ${quorum}); restore would replace its data with the snapshot's. Nothing was changed\n` +
          `  hint: ${healthy.length < members.length ? `to bring back a member that lost its data, run provision ${file} --replace-lost-members; ` : ''}to restore anyway, add --force (each member's data directory is moved aside, not deleted)\n`,
      );
      return 3;
    }

    let discoveryUrl: string | undefined;
    if (cluster.bootstrap === 'discovery')
      discoveryUrl = cluster.discovery?.url ?? (await readClusterState(path.dirname(path.resolve(file)), cluster.name))?.discoveryUrl;
    const plan = planRestore({ cluster, members, facts, sha256, stamp: fileStamp(new Date(), true), ...(discoveryUrl ? { discoveryUrl } : {}) });

    out(`restore of cluster ${cluster.name} (${cluster.bootstrap}${cluster.tls ? ', TLS' : ''}, ${members.length} members) from ${snapshotFile}`);
    out(`  snapshot: ${sizeOf(snapshot.length)}, sha256 ${sha256}`);
    out(
      `  now: ${healthy.length} of ${members.length} members healthy${serving ? ' (serving; --force given)' : ''}${
        members.length > healthy.length
          ? ` (${members
              .filter((m) => health[m.name] !== undefined)
              .map((m) => `${m.name}: ${facts[m.name]!.active ?? '?'}, ${health[m.name]}`)
              .join('; ')})`
          : ''
      }`,
    );
    if (values.check) {
      printPlan(plan, out);
      out(
        "  then: wait until every member is healthy, the member list is the inventory's and the revision is at least the snapshot's; remove the copied snapshots",
      );
      out('check: nothing was changed');
      if (values.json) io.stdout(JSON.stringify({ check: true, cluster: cluster.name, snapshot: snapshotFile, sha256, ...plan }, null, 2) + '\n');
      return 0;
    }

    let status: SnapshotStatus | undefined;
    for (const [i, phase] of plan.phases.entries()) {
      out(`${i + 1}. ${phase.title}`);
      const failed = await runPhase(phase.steps, byName, snapshot, out);
      if (failed.length) {
        io.stderr(`error: restore stopped at "${phase.title}": ${failed.join('; ')}\n`);
        if (Object.keys(plan.asides).length)
          io.stderr(
            `  the old data directories are kept: ${Object.entries(plan.asides)
              .map(([m, d]) => `${m}:${d}`)
              .join(', ')}\n`,
          );
        io.stderr('  hint: fix the cause and run the restore again (it moves aside whatever data directories it finds)\n');
        return 3;
      }
      if (phase.steps.some((s) => s.kind === 'upload' && s.what === 'snapshot')) {
        // The snapshot as etcd reads it, on the first member (the SHA-256 showed every copy is the same).
        const first = access.links[0]!;
        const r = await first.conn!.exec(snapshotStatusCommand(plan.snapshotOn));
        status = r.exitCode === 0 ? parseSnapshotStatus(r.stdout) : undefined;
        if (!status) {
          io.stderr(
            `error: ${snapshotFile} is not a usable etcd snapshot (snapshot status on ${first.member.name}: ${toolError(r.stderr, r.exitCode)}); the members' data directories were moved aside and nothing was restored\n`,
          );
          return 3;
        }
        out(`   snapshot status: hash ${status.hash}, revision ${status.revision}, ${status.totalKeys} total keys`);
      }
    }

    out(`7. wait until the cluster is healthy (at most ${timeoutS} s)`);
    const first = access.links[0]!;
    const all: EtcdQuery = { endpoints: members.map((m) => memberUrls(cluster, m).client), tls: etcdctlTls(cluster, first.member.name) };
    const waited = await pollUntil(
      () => probeFact(first.conn!, etcdHealth, all),
      (h) => h.length === members.length && h.every((x) => x.healthy),
      { timeoutMs: timeoutS * 1000, intervalMs: 500 },
    );
    if (!waited.done) {
      io.stderr(
        `error: the restored cluster is not healthy after ${timeoutS} s: ${waited.value
          .filter((x) => !x.healthy)
          .map((x) => `${x.endpoint}: ${x.error ?? 'unhealthy'}`)
          .join(
            '; ',
          )}\n  hint: journalctl -u etcd -n 50 on each member; the old data directories are kept (${Object.values(plan.asides).join(', ') || 'none'})\n`,
      );
      return 3;
    }
    const [list, count] = await Promise.all([
      probeFact(first.conn!, etcdMembers, all),
      first.conn!.exec(keyCountCommand({ ...all, endpoints: [all.endpoints[0]!] })),
    ]);
    const names = list.ok ? list.members.map((m) => m.name).sort() : [];
    const want = members.map((m) => m.name).sort();
    const keys = count.exitCode === 0 ? parseKeyCount(count.stdout) : undefined;
    const problems: string[] = [];
    if (!list.ok) problems.push(`member list: ${list.error}`);
    else if (names.join(',') !== want.join(',')) problems.push(`member list is ${names.join(', ')}, not the inventory's ${want.join(', ')}`);
    if (!keys) problems.push(`cannot count the keys: ${toolError(count.stderr, count.exitCode)}`);
    else if (status && keys.revision < status.revision) problems.push(`the cluster's revision ${keys.revision} is below the snapshot's ${status.revision}`);
    if (problems.length) {
      io.stderr(`error: the restored cluster does not hold the snapshot's data: ${problems.join('; ')}\n`);
      return 3;
    }
    out(`   ${members.length} members healthy (${names.join(', ')}), ${keys!.count} keys, revision ${keys!.revision}`);
    out('8. remove the copied snapshots');
    await runPhase(cleanupSteps(plan, members), byName, snapshot, out);
    const ms = Date.now() - started;
    out(`cluster ${cluster.name} restored from ${path.basename(snapshotFile)} in ${(ms / 1000).toFixed(1)} s (cluster token ${plan.token})`);
    if (Object.keys(plan.asides).length)
      out(
        `the old data directories are kept: ${Object.entries(plan.asides)
          .map(([m, d]) => `${m}:${d}`)
          .join(', ')}`,
      );
    if (values.json)
      io.stdout(
        JSON.stringify(
          {
            check: false,
            cluster: cluster.name,
            snapshot: snapshotFile,
            sha256,
            token: plan.token,
            asides: plan.asides,
            status,
            keys: keys!.count,
            revision: keys!.revision,
            members: names,
            durationMs: ms,
          },
          null,
          2,
        ) + '\n',
      );
    return 0;
  } finally {
    await access.close();
  }
}

function readSnapshot(file: string): Buffer {
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch {
    throw new ProvisionError('USAGE', `--snapshot ${file}: no such file`);
  }
  if (!st.isFile()) throw new ProvisionError('USAGE', `--snapshot ${file} is not a file`);
  if (st.size === 0) throw new ProvisionError('USAGE', `--snapshot ${file} is empty`);
  return fs.readFileSync(file);
}

function printPlan(plan: RestorePlan, out: (s: string) => void): void {
  for (const [i, phase] of plan.phases.entries()) {
    out(`${i + 1}. ${phase.title}`);
    for (const s of phase.steps) {
      out(`   ${s.host}: ${printable(s.description)}`);
      if (s.kind === 'command') out(`       $ ${printable(s.command)}`);
      if (s.kind === 'upload' && s.content !== undefined) out(s.content.replace(/^/gm, `       | `).trimEnd());
    }
  }
}

/** Each member's steps in order, the members at once; returns what failed. */
async function runPhase(steps: RestoreStep[], links: Map<string, MemberLink>, snapshot: Buffer, out: (s: string) => void): Promise<string[]> {
  const hosts = [...new Set(steps.map((s) => s.host))];
  const failed: string[] = [];
  await Promise.all(
    hosts.map(async (host) => {
      const conn = links.get(host)!.conn!;
      for (const s of steps.filter((x) => x.host === host)) {
        const t0 = Date.now();
        try {
          if (s.kind === 'command') {
            const r = await conn.exec(s.command, s.timeoutMs ? { timeoutMs: s.timeoutMs } : {});
            if (r.exitCode !== 0) throw new Error(toolError(r.stderr || r.stdout, r.exitCode));
          } else if (s.kind === 'upload') {
            await conn.writeFile(s.path, s.what === 'snapshot' ? snapshot : s.content!, { mode: s.mode, owner: s.owner, group: s.owner });
          }
          out(`   ${host}: ${printable(s.description)}${s.kind === 'note' ? '' : ` (${((Date.now() - t0) / 1000).toFixed(2)} s)`}`);
        } catch (e) {
          const why = isProvisionError(e) ? e.format() : (e as Error).message;
          out(`   ${host}: FAILED ${printable(s.description)}: ${printable(why)}`);
          failed.push(`${host}: ${why}`);
          return;
        }
      }
    }),
  );
  return failed;
}
