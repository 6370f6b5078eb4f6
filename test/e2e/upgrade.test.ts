/**
 * Upgrading a live cluster: a 3.4.23 cluster converged from bare nodes, then the inventory pins
 * etcd 3.5.16. --check --diff changes nothing and shows the rolling upgrade; the run upgrades
 * one member at a time (a snapshot on each, never more than one member down), every member
 * then runs 3.5.16, the cluster version is 3.5, keys written before are still there, and a
 * re-run changes nothing. Pinning 3.4.23 again is refused (a downgrade across a minor) and
 * changes nothing. In static mode without TLS (a client writing throughout), and in DNS SRV mode
 * with TLS (which also covers TLS; a third case, static with TLS, added 2 minutes and nothing else).
 */
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { changedSet, provisionJson, totalChanged } from '../helpers/cli.js';
import { ensureLab, etcdNodes, lab, ssh } from '../helpers/lab.js';
import { watchMembersUp } from '../helpers/serving.js';
import { snapshotDiff, snapshotNode } from '../helpers/snapshot.js';
import { Writer } from '../helpers/writer.js';
import { LAB_VARIANTS, variantCluster, variantFile, type LabVariant } from '../../src/lab/inventory.js';

const labDir = () => path.dirname(lab.labFiles.inventory);
const members = () => etcdNodes();
const infra = () => lab.topology(3).find((n) => n.role === 'infra')!;
const inventoryOf = (v: LabVariant) => path.join(labDir(), variantFile(v, 'inventory'));

/** The variant's inventory with cluster.package.version pinned, next to it (same relative paths). */
function pinned(v: LabVariant, version: string): string {
  const src = fs.readFileSync(inventoryOf(v), 'utf8');
  expect(src).toContain('package: { name: etcd }');
  const file = path.join(labDir(), `upgrade-${v}-${version}.yaml`);
  fs.writeFileSync(file, src.replace('package: { name: etcd }', `package: { name: etcd, version: "${version}" }`));
  return file;
}

async function fromScratch(v: LabVariant) {
  await Promise.all([...members(), infra()].map((n) => lab.resetNode(n.name)));
  fs.rmSync(path.join(labDir(), '.provision-state', `${variantCluster(v)}.json`), { force: true });
  fs.rmSync(path.join(labDir(), `tls-${variantCluster(v)}`), { recursive: true, force: true });
}

function etcdctl(v: LabVariant, address: string, args: string) {
  const tls = LAB_VARIANTS[v].tls;
  const certs = tls ? '--cacert=/etc/etcd/pki/ca.crt --cert=/etc/etcd/pki/client.crt --key=/etc/etcd/pki/client.key ' : '';
  return ssh(address, `ETCDCTL_API=3 etcdctl ${certs}--endpoints=${tls ? 'https' : 'http'}://${address}:2379 ${args}`);
}

/** What /version says on a member: {"etcdserver":"3.5.16","etcdcluster":"3.5.0"}. */
async function versionOf(v: LabVariant, address: string): Promise<{ etcdserver: string; etcdcluster: string }> {
  const tls = LAB_VARIANTS[v].tls;
  const certs = tls ? '--cacert /etc/etcd/pki/ca.crt --cert /etc/etcd/pki/client.crt --key /etc/etcd/pki/client.key ' : '';
  const r = await ssh(address, `curl -sS ${certs}${tls ? 'https' : 'http'}://${address}:2379/version`);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout);
}

/** The fewest members with etcd up at any moment while `during` runs. */
async function fewestUp<T>(during: Promise<T>): Promise<{ result: T; minUp: number }> {
  const stop = watchMembersUp(
    members().map((n) => n.address),
    50,
  );
  const result = await during.finally(stop);
  return { result, minUp: (await stop()).minUp };
}

const failed = (run: Awaited<ReturnType<typeof provisionJson>>) =>
  JSON.stringify(
    run.json.tasks.filter((t) => t.status === 'failed'),
    null,
    1,
  ) + run.stderr;

const UPGRADE = 'Upgrade etcd to the pinned version, one member at a time';

async function upgradeCase(v: LabVariant) {
  await fromScratch(v);
  const first = await provisionJson([inventoryOf(v)]);
  expect(first.code, failed(first)).toBe(0);
  for (const n of members()) expect((await ssh(n.address, 'rpm -q etcd')).stdout.trim()).toBe('etcd-3.4.23-1.lab.x86_64');
  for (let i = 0; i < 20; i++) expect((await etcdctl(v, members()[i % 3]!.address, `put before-upgrade-${i} value-${i}`)).code).toBe(0);

  const inv = pinned(v, '3.5.16');
  const before = await Promise.all(members().map((n) => snapshotNode(n.address)));
  const check = await provisionJson([inv, '--check', '--diff']);
  expect(check.code, failed(check)).toBe(0);
  const after = await Promise.all(members().map((n) => snapshotNode(n.address)));
  members().forEach((_, i) => expect(snapshotDiff(before[i]!, after[i]!)).toEqual([]));
  expect(changedSet(check.json)).toEqual(members().map((n) => `${n.name}: ${UPGRADE}`));
  for (const n of members()) {
    const t = check.json.tasks.find((x) => x.host === n.name && x.task === UPGRADE)!;
    expect(t.steps.map((s) => s.description.replace(/\d{8}T\d{6}Z/, 'STAMP'))).toEqual([
      `save a snapshot of the cluster to /var/lib/etcd-snapshots/${variantCluster(v)}-${n.name}-STAMP.db (keep the last 7 of ${n.name}'s in /var/lib/etcd-snapshots)`,
      'upgrade etcd 3.4.23-1.lab to 3.5.16 (one member at a time)',
      'systemctl daemon-reload',
      `restart etcd on ${n.name} with 3.5.16`,
    ]);
  }

  // A client writes throughout (plain http: the case without TLS), retrying on another member
  // as etcd's clients do: no write may fail, and every acknowledged one must be there after.
  const writer =
    v === 'static'
      ? new Writer(
          members().map((n) => n.address),
          `upgrade/${Date.now()}/`,
          { failover: true },
        )
      : undefined;
  writer?.start();
  const { result: run, minUp } = await fewestUp(provisionJson([inv])).finally(() => writer?.stop());
  expect(run.code, failed(run)).toBe(0);
  if (writer) {
    expect(writer.unacked, `writes no member acknowledged (${writer.retried} sent again)`).toBe(0);
    expect(writer.acked.size).toBeGreaterThan(10);
    expect(await writer.lost()).toEqual([]);
  }
  expect(changedSet(run.json)).toEqual(changedSet(check.json));
  // One member at a time: never more than one down.
  expect(minUp).toBeGreaterThanOrEqual(members().length - 1);
  for (const n of members()) {
    expect((await ssh(n.address, 'rpm -q etcd')).stdout.trim()).toBe('etcd-3.5.16-1.lab.x86_64');
    const status = await etcdctl(v, n.address, 'endpoint status -w json');
    expect(JSON.parse(status.stdout)[0].Status.version).toBe('3.5.16');
    const snaps = await ssh(n.address, 'ls /var/lib/etcd-snapshots');
    expect(snaps.stdout.trim().split('\n')).toHaveLength(1);
  }
  expect((await versionOf(v, members()[0]!.address)).etcdcluster).toMatch(/^3\.5\./);
  for (let i = 0; i < 20; i++)
    expect((await etcdctl(v, members()[(i + 1) % 3]!.address, `get --print-value-only before-upgrade-${i}`)).stdout.trim()).toBe(`value-${i}`);

  const again = await provisionJson([inv]);
  expect(again.code, failed(again)).toBe(0);
  expect(totalChanged(again.json)).toBe(0);

  // Back to 3.4: refused before anything changes.
  const down = await provisionJson([pinned(v, '3.4.23')]);
  expect(down.code).not.toBe(0);
  const refusal = down.json.tasks.find((t) => t.status === 'failed')!;
  expect(refusal.task).toBe(UPGRADE);
  expect(refusal.message).toMatch(/3\.4\.23 would downgrade across a minor version \(3\.5 to 3\.4\)/);
  expect(refusal.message).toMatch(/hint: .*restore a snapshot/);
  expect(totalChanged(down.json)).toBe(0);
  for (const n of members()) expect((await ssh(n.address, 'rpm -q etcd')).stdout.trim()).toBe('etcd-3.5.16-1.lab.x86_64');
}

describe.runIf(lab.LAB.engine === 'nspawn')('rolling upgrade 3.4.23 -> 3.5.16', () => {
  beforeAll(async () => {
    await ensureLab();
  });

  it('static, no TLS', () => upgradeCase('static'));
  it('DNS SRV (TLS)', () => upgradeCase('dns'));
});
