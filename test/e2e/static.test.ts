/**
 * The product on real nodes: bare CentOS-like lab nodes -> a verified static etcd cluster;
 * a re-run changes nothing; --check changes nothing and predicts exactly what the next real
 * run changes, on bare nodes and on a converged cluster. Runs on both lab engines (nspawn and
 * docker; vitest.config.ts).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { changedSet, provision, provisionJson, totalChanged } from '../helpers/cli.js';
import { ensureLab, etcdNodes, lab, ssh } from '../helpers/lab.js';
import { snapshotDiff, snapshotNode } from '../helpers/snapshot.js';

const inventory = () => lab.labFiles.inventory;
const members = () => etcdNodes();

async function resetMembers() {
  for (const n of members()) await lab.resetNode(n.name);
}

/** `etcdctl member list` as a user would run it on a node. */
async function memberList(address: string) {
  const r = await ssh(address, `ETCDCTL_API=3 etcdctl --endpoints=http://${address}:2379 member list -w json`);
  expect(r.code, r.stderr).toBe(0);
  const doc = JSON.parse(r.stdout) as { members: { name: string; peerURLs: string[]; clientURLs: string[] }[] };
  return doc.members.map((m) => ({ name: m.name, peer: m.peerURLs.join(','), client: m.clientURLs.join(',') })).sort((a, b) => a.name.localeCompare(b.name));
}

async function etcdPids() {
  const out: Record<string, string> = {};
  for (const n of members()) out[n.name] = (await ssh(n.address, 'systemctl show -p MainPID -p ActiveEnterTimestamp etcd')).stdout;
  return out;
}

describe(`static etcd cluster on the ${lab.LAB.engine} lab`, () => {
  beforeAll(async () => {
    await ensureLab();
    await resetMembers();
  });

  it('--check on bare nodes predicts the whole job and changes nothing on any node', async () => {
    const before = await Promise.all(members().map((n) => snapshotNode(n.address)));
    const check = await provisionJson([inventory(), '--check', '--diff']);
    expect(check.code, check.stderr).toBe(0);
    expect(check.json.check).toBe(true);
    const after = await Promise.all(members().map((n) => snapshotNode(n.address)));
    members().forEach((_, i) => expect(snapshotDiff(before[i]!, after[i]!)).toEqual([]));
    // The plan says what it cannot know yet instead of guessing.
    const conf = check.json.tasks.find((t) => t.host === 'etcd0' && t.op === 'etcd_config')!;
    expect(conf.notes.join('\n')).toMatch(/depends on an earlier step/);
    expect(conf.steps[0]!.diff).toMatch(/\+ETCD_INITIAL_CLUSTER_STATE="new"/);
  });

  it('converges bare nodes to a healthy 3-member cluster, exactly as --check predicted', async () => {
    const check = await provisionJson([inventory(), '--check']);
    const run = await provisionJson([inventory()]);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(changedSet(run.json)).toEqual(changedSet(check.json));
    expect(changedSet(run.json).length).toBeGreaterThan(0);
    for (const r of Object.values(run.json.recap)) expect(r).toMatchObject({ failed: 0, unreachable: 0 });

    // What a user checks by hand: etcdctl on every node sees exactly the inventory's members.
    const expected = members()
      .map((n) => ({ name: n.name, peer: `http://${n.address}:2380`, client: `http://${n.address}:2379` }))
      .sort((a, b) => a.name.localeCompare(b.name));
    for (const n of members()) expect(await memberList(n.address)).toEqual(expected);
    const health = await ssh(
      members()[0]!.address,
      `ETCDCTL_API=3 etcdctl --endpoints=${members()
        .map((n) => `http://${n.address}:2379`)
        .join(',')} endpoint health 2>&1`,
    );
    expect(health.code, health.stderr).toBe(0);
    expect(health.stdout.match(/is healthy/g)).toHaveLength(3);
    // The stored data survives: write through one member, read through another.
    expect((await ssh(members()[0]!.address, `ETCDCTL_API=3 etcdctl --endpoints=http://${members()[0]!.address}:2379 put provision-e2e hello`)).code).toBe(0);
    expect(
      (
        await ssh(members()[2]!.address, `ETCDCTL_API=3 etcdctl --endpoints=http://${members()[2]!.address}:2379 get --print-value-only provision-e2e`)
      ).stdout.trim(),
    ).toBe('hello');
    // Bootstrapped clusters are marked existing so a restart never re-bootstraps.
    const conf = await ssh(members()[1]!.address, 'cat /etc/etcd/etcd.conf');
    expect(conf.stdout).toMatch(/^ETCD_INITIAL_CLUSTER_STATE="existing"$/m);
  });

  it('the terminal output ends with the member table and the recap', async () => {
    const r = await provision([inventory()]);
    expect(r.code, r.stderr).toBe(0);
    for (const n of members())
      expect(r.stdout).toMatch(new RegExp(`\\| started \\| ${n.name} +\\| http://${n.address.replace(/\./g, '\\.')}:2380 .*\\| healthy \\|`));
    expect(r.stdout).toMatch(/PLAY RECAP\n(etcd\d : ok=\d+ +changed=0 +unreachable=0 +failed=0 +skipped=3\n){3}/);
  });

  it('a re-run on the converged cluster changes nothing: no restart, no data touched; --check agrees', async () => {
    const pids = await etcdPids();
    const before = await Promise.all(members().map((n) => snapshotNode(n.address)));
    const check = await provisionJson([inventory(), '--check', '--diff']);
    expect(check.code).toBe(0);
    expect(totalChanged(check.json)).toBe(0);
    const run = await provisionJson([inventory()]);
    expect(run.code).toBe(0);
    expect(totalChanged(run.json)).toBe(0);
    expect(await etcdPids()).toEqual(pids);
    const after = await Promise.all(members().map((n) => snapshotNode(n.address)));
    // etcd itself writes its WAL and snapshots while running; everything else is untouched.
    members().forEach((_, i) => expect(snapshotDiff(before[i]!, after[i]!).filter((l) => !l.includes('/var/lib/etcd/'))).toEqual([]));
  });

  it('--check predicts a config drift exactly and the next run repairs it', async () => {
    const n = members()[1]!;
    await ssh(n.address, `sed -i 's/^ETCD_INITIAL_CLUSTER_TOKEN=.*/ETCD_INITIAL_CLUSTER_TOKEN="edited-by-hand"/' /etc/etcd/etcd.conf`);
    const check = await provisionJson([inventory(), '--check', '--diff']);
    expect(changedSet(check.json)).toEqual([`${n.name}: Write /etc/etcd/etcd.conf`, `${n.name}: restart etcd`].sort());
    const conf = check.json.tasks.find((t) => t.host === n.name && t.op === 'etcd_config')!;
    expect(conf.steps[0]!.diff).toContain('-ETCD_INITIAL_CLUSTER_TOKEN="edited-by-hand"');
    expect(conf.steps[0]!.diff).toContain('+ETCD_INITIAL_CLUSTER_TOKEN="lab-etcd-cluster"');
    const run = await provisionJson([inventory()]);
    expect(run.code).toBe(0);
    expect(changedSet(run.json)).toEqual(changedSet(check.json));
    expect(totalChanged((await provisionJson([inventory()])).json)).toBe(0);
  });

  it('works as a non-root user with sudo (become), and agrees with the root run', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'provision-become-'));
    const inv = fs
      .readFileSync(inventory(), 'utf8')
      .replace(/^ {4}user: root$/m, `    user: ${lab.LAB.adminUser}\n    become: true`)
      .replace(/key_file: .*/, `key_file: ${lab.labFiles.privateKey}`)
      .replace(/known_hosts: .*/, `known_hosts: ${lab.labFiles.knownHosts}`);
    expect(inv).toContain('become: true');
    fs.writeFileSync(path.join(dir, 'inventory.yaml'), inv);
    try {
      const who = await ssh(members()[0]!.address, 'id -un', lab.LAB.adminUser);
      expect(who.stdout.trim()).toBe(lab.LAB.adminUser);
      // A drift only root can repair: the admin user cannot write /etc/etcd/etcd.conf itself.
      const n = members()[2]!;
      await ssh(n.address, `sed -i 's/^ETCD_INITIAL_CLUSTER_TOKEN=.*/ETCD_INITIAL_CLUSTER_TOKEN="drift"/' /etc/etcd/etcd.conf`);
      expect((await ssh(n.address, 'test -w /etc/etcd/etcd.conf', lab.LAB.adminUser)).code).not.toBe(0);
      const run = await provisionJson([path.join(dir, 'inventory.yaml')]);
      expect(run.code, run.stdout).toBe(0);
      expect(changedSet(run.json)).toEqual([`${n.name}: Write /etc/etcd/etcd.conf`, `${n.name}: restart etcd`].sort());
      const stat = await ssh(n.address, "stat -c '%U %G %a' /etc/etcd/etcd.conf; grep ^ETCD_INITIAL_CLUSTER_TOKEN= /etc/etcd/etcd.conf");
      expect(stat.stdout.trim().split('\n')).toEqual(['root root 644', 'ETCD_INITIAL_CLUSTER_TOKEN="lab-etcd-cluster"']);
      expect(totalChanged((await provisionJson([path.join(dir, 'inventory.yaml')])).json)).toBe(0);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
