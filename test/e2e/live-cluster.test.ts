/**
 * A live cluster is sacred: a config change restarts one member at a time, each after a
 * snapshot and back to healthy before the next (quorum is never lost, as a poller watching
 * every member's /health sees); a member whose data directory was lost is reported with the
 * safe replacement, and with --replace-lost-members replaced (member remove, member add,
 * start as existing) while the other members keep running.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { changedSet, provisionJson, totalChanged } from '../helpers/cli.js';
import { ensureLab, etcdNodes, lab, ssh } from '../helpers/lab.js';
import { watchMembersUp } from '../helpers/serving.js';
import { Writer } from '../helpers/writer.js';

const inventory = () => lab.labFiles.inventory;
const members = () => etcdNodes();
const ctl = (address: string, args: string) => ssh(address, `ETCDCTL_API=3 etcdctl --endpoints=http://${address}:2379 ${args}`);

async function mainPids(): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const n of members()) out[n.name] = (await ssh(n.address, 'systemctl show -p MainPID --value etcd')).stdout.trim();
  return out;
}

async function memberIds(): Promise<Record<string, string>> {
  const r = await ctl(members()[0]!.address, 'member list -w json');
  expect(r.code, r.stderr).toBe(0);
  const doc = JSON.parse(r.stdout.replace(/"ID":(\d+)/g, '"ID":"$1"')) as { members: { ID: string; name: string }[] };
  return Object.fromEntries(doc.members.map((m) => [m.name, m.ID]));
}

/**
 * What quorum means to a user, watched from the controller while a run restarts the members:
 * how many members have etcd up at any moment (the fewest seen), and a client writing all
 * along, retrying a write on the next member as etcd's clients do (test/helpers/writer.ts).
 */
function watchQuorum() {
  const addresses = members().map((n) => n.address);
  const stopUp = watchMembersUp(addresses);
  const writer = new Writer(addresses, `quorum/${Date.now()}/`, { failover: true });
  writer.start();
  return async () => {
    const [up] = await Promise.all([stopUp(), writer.stop()]);
    return { ...up, writer };
  };
}

describe('a live cluster', () => {
  let dir: string;
  beforeAll(async () => {
    await ensureLab();
    for (const n of members()) await lab.resetNode(n.name);
    const run = await provisionJson([inventory()]);
    expect(run.code, run.stdout).toBe(0);
    expect((await ctl(members()[0]!.address, 'put provision-live kept')).code).toBe(0);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'provision-live-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('a config change restarts the members one at a time, each after a snapshot, and never loses quorum', async () => {
    const changed = path.join(dir, 'token.yaml');
    fs.writeFileSync(
      changed,
      fs
        .readFileSync(inventory(), 'utf8')
        .replace(/^ {2}token: .*$/m, '  token: lab-etcd-cluster-renamed')
        .replace(/(key_file|known_hosts): /g, `$1: ${path.dirname(inventory())}/`),
    );
    const before = await mainPids();
    const check = await provisionJson([changed, '--check']);
    expect(check.code).toBe(0);
    const stopWatching = watchQuorum();
    const run = await provisionJson([changed]);
    const quorum = await stopWatching();
    expect(run.code, run.stdout).toBe(0);
    expect(changedSet(run.json)).toEqual(changedSet(check.json));
    expect(changedSet(run.json)).toEqual(
      members()
        .flatMap((n) => [`${n.name}: Write /etc/etcd/etcd.conf`, `${n.name}: restart etcd`])
        .sort(),
    );

    // Every member was restarted, and at no moment were fewer than two of three healthy.
    const after = await mainPids();
    for (const n of members()) expect(after[n.name]).not.toBe(before[n.name]);
    expect(quorum.samples).toBeGreaterThan(3);
    expect(quorum.minUp).toBe(2);
    expect(quorum.writer.acked.size).toBeGreaterThan(3);
    expect(quorum.writer.unacked, `writes no member acknowledged (${quorum.writer.retried} sent again)`).toBe(0);
    expect(await quorum.writer.lost()).toEqual([]);
    // One at a time: each restart began after the previous one had finished.
    const restarts = run.json.tasks.filter((t) => t.op === 'etcd_restart');
    expect(restarts.map((t) => t.steps.map((s) => s.description))).toEqual(
      members().map(() => [
        expect.stringMatching(
          /^save a snapshot of the cluster to \/var\/lib\/etcd-snapshots\/lab-etcd\d-\d{8}T\d{6}Z\.db \(keep the last \d+ of etcd\d's in \/var\/lib\/etcd-snapshots\)$/,
        ),
        'restart etcd (one member at a time)',
      ]),
    );
    for (const n of members()) {
      const snap = await ssh(n.address, `ETCDCTL_API=3 etcdctl snapshot status -w json "$(ls -t /var/lib/etcd-snapshots/*.db | head -1)"`);
      expect(snap.code, snap.stderr).toBe(0);
      expect((JSON.parse(snap.stdout) as { totalKey: number }).totalKey).toBeGreaterThan(0);
    }
    expect((await ctl(members()[2]!.address, 'get --print-value-only provision-live')).stdout.trim()).toBe('kept');

    // Back to the inventory's settings (another rolling restart), then quiet.
    expect((await provisionJson([inventory()])).code).toBe(0);
    expect(totalChanged((await provisionJson([inventory()])).json)).toBe(0);
  });

  it('a member whose data directory was lost is reported with the safe replacement and left alone', async () => {
    const lost = members()[1]!;
    await ssh(lost.address, `systemctl stop etcd && rm -rf /var/lib/etcd/${lost.name}.etcd`);
    const ids = await memberIds();
    const others = members().filter((n) => n.name !== lost.name);
    const pids = await mainPids();

    const run = await provisionJson([inventory()]);
    expect(run.code).toBe(3);
    const failed = run.json.tasks.find((t) => t.host === lost.name && t.status === 'failed')!;
    expect(failed.op).toBe('etcd_config');
    expect(failed.message).toMatch(
      new RegExp(`${lost.name} has no data, but cluster lab lists it as started member ${BigInt(ids[lost.name]!).toString(16)}: its data directory was lost`),
    );
    expect(failed.message).toMatch(/--replace-lost-members/);
    // Nothing was done to it or to the others: still stopped, same ids, same processes.
    expect((await ssh(lost.address, 'systemctl is-active etcd')).stdout.trim()).not.toBe('active');
    expect(await memberIds()).toEqual(ids);
    const now = await mainPids();
    for (const n of others) expect(now[n.name]).toBe(pids[n.name]);
  });

  it('--replace-lost-members replaces it: member remove, member add, start as existing; the others keep running', async () => {
    const lost = members()[1]!;
    const others = members().filter((n) => n.name !== lost.name);
    const ids = await memberIds();
    const pids = await mainPids();
    const check = await provisionJson([inventory(), '--check', '--replace-lost-members']);
    expect(check.code).toBe(0);
    expect(check.json.tasks.find((t) => t.host === lost.name && t.op === 'etcd_config')!.steps.map((s) => s.description)).toEqual([
      `remove the lost member ${lost.name} (${BigInt(ids[lost.name]!).toString(16)}) from cluster lab`,
      `add ${lost.name} to cluster lab again as a new member`,
    ]);
    const run = await provisionJson([inventory(), '--replace-lost-members']);
    expect(run.code, run.stdout).toBe(0);
    expect(changedSet(run.json)).toEqual(changedSet(check.json));
    expect(changedSet(run.json).every((t) => t.startsWith(`${lost.name}: `))).toBe(true);

    const after = await memberIds();
    expect(Object.keys(after).sort()).toEqual(
      members()
        .map((n) => n.name)
        .sort(),
    );
    expect(after[lost.name]).not.toBe(ids[lost.name]);
    for (const n of others) expect(after[n.name]).toBe(ids[n.name]);
    const now = await mainPids();
    for (const n of others) expect(now[n.name]).toBe(pids[n.name]);
    // The data came back to it from the cluster.
    expect((await ctl(lost.address, 'get --print-value-only provision-live')).stdout.trim()).toBe('kept');
    expect((await ssh(lost.address, 'cat /etc/etcd/etcd.conf')).stdout).toMatch(/^ETCD_INITIAL_CLUSTER_STATE="existing"$/m);
    expect(totalChanged((await provisionJson([inventory()])).json)).toBe(0);
  });
});
