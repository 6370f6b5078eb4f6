/**
 * Growing and shrinking a live cluster from the inventory alone: a 4th member joins (member
 * add as a learner, start as existing, promote), a retired member is removed and then stopped,
 * disabled and its data moved aside, a member that is offline and gone from the inventory is
 * removed through the others, and the refusals. Each --check predicts what the real run does.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { provisionJson, totalChanged, type JsonRun } from '../helpers/cli.js';
import { lab, labUp, ssh } from '../helpers/lab.js';

const nodes = () => lab.topology(5).filter((n) => n.role === 'etcd');
const node = (name: string) => nodes().find((n) => n.name === name)!;
const ctl = (name: string, args: string) => ssh(node(name).address, `ETCDCTL_API=3 etcdctl --endpoints=http://${node(name).address}:2379 ${args}`);

let dir: string;

/** An inventory of the lab's cluster with these hosts, members and retired hosts. */
function inventory(file: string, hosts: string[], members: string[], retired: string[] = []): string {
  const doc = {
    all: {
      vars: { user: 'root', key_file: lab.labFiles.privateKey, known_hosts: lab.labFiles.knownHosts, host_key_checking: 'strict' },
      children: { etcd: { hosts: Object.fromEntries(hosts.map((h) => [h, { address: node(h).address }])) } },
    },
    cluster: {
      name: 'lab',
      members,
      ...(retired.length ? { retired } : {}),
      bootstrap: 'static',
      token: 'lab-membership',
      package: { name: 'etcd' },
    },
  };
  const p = path.join(dir, `${file}.yaml`);
  fs.writeFileSync(p, YAML.stringify(doc));
  return p;
}

interface Listed {
  name: string;
  started: boolean;
  learner: boolean;
}
async function memberList(via: string): Promise<Listed[]> {
  const r = await ctl(via, 'member list -w json');
  expect(r.code, r.stderr).toBe(0);
  const doc = JSON.parse(r.stdout.replace(/"ID":(\d+)/g, '"ID":"$1"')) as { members: { name?: string; isLearner?: boolean }[] };
  return doc.members.map((m) => ({ name: m.name ?? '', started: !!m.name, learner: m.isLearner === true })).sort((a, b) => a.name.localeCompare(b.name));
}
const voters = (names: string[]) => names.map((name) => ({ name, started: true, learner: false }));

/** Every step a run made or predicts, per host and task (times in names left out). */
const stepsOf = (run: JsonRun): string[] =>
  run.tasks
    .filter((t) => t.status === 'changed')
    .flatMap((t) => t.steps.map((s) => `${t.host}: ${t.task}: ${s.description.replace(/-\d{8}T\d{6}Z?/g, '-<time>')}`))
    .sort();
const failures = (run: JsonRun) => run.tasks.filter((t) => t.status === 'failed').map((t) => `${t.host}: ${t.task}: ${t.message}`);

/** --check --diff, then the real run: the real run must make exactly the steps predicted. */
async function checkThenRun(inv: string, extra: string[] = []): Promise<{ check: JsonRun; run: JsonRun }> {
  const check = await provisionJson([inv, '--check', '--diff', ...extra]);
  expect(failures(check.json), check.stdout).toEqual([]);
  const run = await provisionJson([inv, ...extra]);
  expect(failures(run.json), run.stdout.slice(-4000)).toEqual([]);
  expect(run.code).toBe(0);
  expect(stepsOf(run.json)).toEqual(stepsOf(check.json));
  return { check: check.json, run: run.json };
}

describe('growing and shrinking a live cluster', () => {
  beforeAll(async () => {
    await labUp(5);
    for (const n of nodes()) await lab.resetNode(n.name);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'provision-membership-'));
    const three = inventory('three', ['etcd0', 'etcd1', 'etcd2', 'etcd3', 'etcd4'], ['etcd0', 'etcd1', 'etcd2']);
    const r = await provisionJson([three]);
    expect(failures(r.json), r.stdout.slice(-4000)).toEqual([]);
    expect((await ctl('etcd0', 'put membership-key kept')).code).toBe(0);
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('a 4th member joins the live cluster as shown by --check, keys kept, and a re-run changes nothing', async () => {
    const four = inventory('four', ['etcd0', 'etcd1', 'etcd2', 'etcd3', 'etcd4'], ['etcd0', 'etcd1', 'etcd2', 'etcd3']);
    const { check } = await checkThenRun(four);
    const predicted = stepsOf(check);
    expect(predicted).toContain(
      'etcd3: Write /etc/etcd/etcd.conf: add etcd3 to cluster lab as a learner (3 members, quorum 2, tolerates 1; a learner does not vote)',
    );
    expect(predicted).toContain(
      'etcd3: Write /etc/etcd/etcd.conf: promote etcd3 to a voting member once it has caught up (3 members, quorum 2, tolerates 1 -> 4 members, quorum 3, tolerates 1)',
    );
    // No restart of the members already there.
    expect(predicted.filter((s) => /restart/.test(s))).toEqual([]);
    expect(await memberList('etcd0')).toEqual(voters(['etcd0', 'etcd1', 'etcd2', 'etcd3']));
    expect((await ctl('etcd3', 'get membership-key --print-value-only')).stdout.trim()).toBe('kept');
    const conf = (await ssh(node('etcd3').address, 'cat /etc/etcd/etcd.conf')).stdout;
    expect(conf).toContain('ETCD_INITIAL_CLUSTER_STATE="existing"');
    const again = await provisionJson([four]);
    expect(failures(again.json)).toEqual([]);
    expect(totalChanged(again.json)).toBe(0);
  });

  it('refuses to remove more members at once than the cluster tolerates, and changes nothing', async () => {
    const two = inventory('two-gone', ['etcd0', 'etcd1', 'etcd2', 'etcd3', 'etcd4'], ['etcd0', 'etcd1'], ['etcd2', 'etcd3']);
    for (const args of [[two, '--check'], [two]]) {
      const r = await provisionJson(args);
      expect(r.code).not.toBe(0);
      const msgs = failures(r.json).join('\n');
      expect(msgs).toMatch(/not removing etcd2, etcd3 from cluster lab: that is 2 of its 4 members, quorum 3, tolerates 1, more than it can lose at once/);
      expect(msgs).toMatch(/retire at most 1 member per run/);
    }
    expect(await memberList('etcd0')).toEqual(voters(['etcd0', 'etcd1', 'etcd2', 'etcd3']));
    expect((await ssh(node('etcd2').address, 'systemctl is-active etcd')).stdout.trim()).toBe('active');
  });

  it('refuses a removal that would leave too few members answering (the others are outside the run)', async () => {
    // etcd1 and etcd2 down and not in this run (--limit): removing healthy etcd3 would leave 1 of 3 answering.
    for (const n of ['etcd1', 'etcd2']) await ssh(node(n).address, 'systemctl stop etcd');
    try {
      const inv = inventory('quorum', ['etcd0', 'etcd1', 'etcd2', 'etcd3', 'etcd4'], ['etcd0', 'etcd1', 'etcd2'], ['etcd3']);
      const r = await provisionJson([inv, '--limit', 'etcd0,etcd3']);
      expect(r.code).not.toBe(0);
      expect(failures(r.json).join('\n')).toMatch(
        /not removing etcd3 from cluster lab: only 0 of its 4 members, quorum 3, tolerates 1 are healthy, so it has no quorum/,
      );
      expect((await ssh(node('etcd3').address, 'systemctl is-active etcd')).stdout.trim()).toBe('active');
    } finally {
      for (const n of ['etcd1', 'etcd2']) await ssh(node(n).address, 'systemctl start etcd');
    }
    expect(await memberList('etcd0')).toEqual(voters(['etcd0', 'etcd1', 'etcd2', 'etcd3']));
  });

  it('a retired member is removed, then stopped, disabled and its data moved aside, as --check shows', async () => {
    const inv = inventory('retire', ['etcd0', 'etcd1', 'etcd2', 'etcd3', 'etcd4'], ['etcd0', 'etcd1', 'etcd2'], ['etcd3']);
    const { check } = await checkThenRun(inv);
    const predicted = stepsOf(check);
    expect(
      predicted.some((s) => /^etcd0: .*remove etcd3 \(\w+\) from cluster lab: 4 members, quorum 3, tolerates 1 -> 3 members, quorum 2, tolerates 1$/.test(s)),
    ).toBe(true);
    expect(predicted).toContain('etcd3: Stop and disable etcd, move its data aside: stop etcd.service (etcd3 has left cluster lab)');
    expect(await memberList('etcd0')).toEqual(voters(['etcd0', 'etcd1', 'etcd2']));
    const a = node('etcd3').address;
    expect((await ssh(a, 'systemctl is-active etcd')).stdout.trim()).not.toBe('active');
    expect((await ssh(a, 'systemctl is-enabled etcd')).stdout.trim()).toBe('disabled');
    const ls = (await ssh(a, 'ls /var/lib/etcd')).stdout.split('\n').filter(Boolean);
    expect(ls).not.toContain('etcd3.etcd');
    expect(ls.some((f) => /^etcd3\.etcd\.retired-\d{8}T\d{6}$/.test(f))).toBe(true);
    expect((await ctl('etcd0', 'get membership-key --print-value-only')).stdout.trim()).toBe('kept');
    const again = await provisionJson([inv]);
    expect(failures(again.json)).toEqual([]);
    expect(totalChanged(again.json)).toBe(0);
  });

  it('--check predicts the restart guard from the state the run will have made: one member stopped, another drifted', async () => {
    const inv = inventory('three-again', ['etcd0', 'etcd1', 'etcd2'], ['etcd0', 'etcd1', 'etcd2']);
    await ssh(node('etcd1').address, 'systemctl stop etcd');
    await ssh(node('etcd2').address, `sed -i 's/^ETCD_INITIAL_CLUSTER_TOKEN=.*/ETCD_INITIAL_CLUSTER_TOKEN="drifted"/' /etc/etcd/etcd.conf`);
    const { run } = await checkThenRun(inv);
    const handled = run.tasks.filter((t) => t.handler && t.status === 'changed').map((t) => t.host);
    expect(handled).toEqual(['etcd2']);
    expect(await memberList('etcd0')).toEqual(voters(['etcd0', 'etcd1', 'etcd2']));
  });

  it('a member that is offline and gone from the inventory is removed through the others', async () => {
    // etcd4 joins, then goes offline and leaves the inventory altogether.
    const withFour = inventory('with-etcd4', ['etcd0', 'etcd1', 'etcd2', 'etcd4'], ['etcd0', 'etcd1', 'etcd2', 'etcd4']);
    const grown = await provisionJson([withFour]);
    expect(failures(grown.json), grown.stdout.slice(-4000)).toEqual([]);
    expect(await memberList('etcd0')).toEqual(voters(['etcd0', 'etcd1', 'etcd2', 'etcd4']));
    await ssh(node('etcd4').address, 'systemctl stop etcd');
    const without = inventory('without-etcd4', ['etcd0', 'etcd1', 'etcd2'], ['etcd0', 'etcd1', 'etcd2']);
    const { check } = await checkThenRun(without);
    expect(stepsOf(check).some((s) => /remove etcd4 \(\w+, not answering\) from cluster lab: 4 members, quorum 3, tolerates 1 -> 3 members/.test(s))).toBe(
      true,
    );
    expect(await memberList('etcd0')).toEqual(voters(['etcd0', 'etcd1', 'etcd2']));
  });
});
