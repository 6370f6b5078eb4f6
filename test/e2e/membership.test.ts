/**
 * Growing and shrinking a live cluster from the inventory alone, with a client writing keys all
 * along: 3 -> 5 (two hosts added to cluster.members in one change; they join one at a time, in
 * inventory order: member add as a learner, start as existing, promote) and 5 -> 3 (two hosts
 * moved to cluster.retired: removed, then stopped, disabled and their data moved aside). Each
 * --check predicts exactly the steps the real run makes, every acknowledged write is there
 * afterwards, and writes were acknowledged while the cluster changed. Then the refusals, the
 * restart guard predicted from the state the run will have made, and a member that is offline
 * and gone from the inventory removed through the others. One cluster for the whole file.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { provisionJson, totalChanged, type JsonRun } from '../helpers/cli.js';
import { lab, labUp, ssh } from '../helpers/lab.js';
import { writeInventory } from '../helpers/inventory.js';
import { gateway, Writer } from '../helpers/writer.js';

const ALL = ['etcd0', 'etcd1', 'etcd2', 'etcd3', 'etcd4'];
const THREE = ['etcd0', 'etcd1', 'etcd2'];
const nodes = () => lab.topology(5).filter((n) => n.role === 'etcd');
const node = (name: string) => nodes().find((n) => n.name === name)!;
const addresses = (names: string[]) => names.map((n) => node(n).address);
const ctl = (name: string, args: string) => ssh(node(name).address, `ETCDCTL_API=3 etcdctl --endpoints=http://${node(name).address}:2379 ${args}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let dir: string;

/** An inventory of the lab's cluster with these hosts, members and retired hosts. */
const inventory = (file: string, hosts: string[], members: string[], retired: string[] = []): string =>
  writeInventory(dir, file, { nodes: hosts, cluster: { members, ...(retired.length ? { retired } : {}), token: 'lab-membership' } });

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

/**
 * The member lists a client sees while a run goes on (etcd's v3 gateway on `via`, every 200 ms;
 * each change kept). A member that has not started yet has no name: it is named by its peer URL.
 */
function watchMembers(via: string) {
  const seen: Listed[][] = [];
  let stopped = false;
  const byPeer = (urls: string[]) => nodes().find((n) => urls.some((u) => u.includes(`//${n.address}:`)))?.name ?? urls.join(',');
  const loop = (async () => {
    while (!stopped) {
      try {
        const r = await gateway(via, 'cluster/member/list', {});
        const list = ((r.members as { name?: string; peerURLs?: string[]; isLearner?: boolean }[] | undefined) ?? [])
          .map((m) => ({ name: m.name || byPeer(m.peerURLs ?? []), started: !!m.name, learner: m.isLearner === true }))
          .sort((a, b) => a.name.localeCompare(b.name));
        if (JSON.stringify(seen.at(-1)) !== JSON.stringify(list)) seen.push(list);
      } catch {
        // No answer this time: nothing seen.
      }
      await sleep(200);
    }
  })();
  return {
    seen,
    stop: async () => {
      stopped = true;
      await loop;
    },
  };
}
const show = (l: Listed[]) => l.map((m) => `${m.name}${m.learner ? ' (learner)' : ''}${m.started ? '' : ' (not started)'}`).join(', ');

/** Every step a run made or predicts, per host and task (times in names left out). */
const stepsOf = (run: JsonRun): string[] =>
  run.tasks
    .filter((t) => t.status === 'changed')
    .flatMap((t) => t.steps.map((s) => `${t.host}: ${t.task}: ${s.description.replace(/-\d{8}T\d{6}Z?/g, '-<time>')}`))
    .sort();
const failures = (run: JsonRun) => run.tasks.filter((t) => t.status === 'failed').map((t) => `${t.host}: ${t.task}: ${t.message}`);

/**
 * --check --diff, then the real run: the real run must make exactly the steps predicted. With a
 * writer: writes must have been acknowledged while the real run went on (the cluster kept serving).
 */
async function checkThenRun(inv: string, o: { extra?: string[]; writer?: Writer } = {}): Promise<{ check: JsonRun; run: JsonRun }> {
  const extra = o.extra ?? [];
  const check = await provisionJson([inv, '--check', '--diff', ...extra]);
  expect(failures(check.json), check.stdout).toEqual([]);
  const ackedBefore = o.writer?.acked.size ?? 0;
  const unackedBefore = o.writer?.unacked ?? 0;
  const run = await provisionJson([inv, ...extra]);
  expect(failures(run.json), run.stdout.slice(-4000)).toEqual([]);
  expect(run.code).toBe(0);
  expect(stepsOf(run.json)).toEqual(stepsOf(check.json));
  if (o.writer) {
    const acked = o.writer.acked.size - ackedBefore;
    expect(acked, `writes acknowledged during the run (${o.writer.unacked - unackedBefore} unacknowledged)`).toBeGreaterThan(0);
    console.log(`${path.basename(inv)}: ${acked} writes acknowledged during the real run, ${o.writer.unacked - unackedBefore} not`);
  }
  return { check: check.json, run: run.json };
}

/**
 * `op` with a client writing keys to `writeTo` all along; afterwards every acknowledged write
 * must be there with its value, read through `readVia`.
 */
async function whileWriting(prefix: string, writeTo: string[], readVia: string[], op: (w: Writer) => Promise<void>): Promise<void> {
  // As etcd's clients do: a write a member does not acknowledge is sent to the next one.
  const w = new Writer(addresses(writeTo), `${prefix}/${Date.now()}/`, { failover: true });
  w.start();
  try {
    await op(w);
  } finally {
    await w.stop();
  }
  const lost = await w.lost(addresses(readVia));
  expect(
    lost,
    `${lost.length} of ${w.acked.size} acknowledged writes missing or changed (${lost.slice(0, 5).join(', ')}); ${w.unacked} writes no member acknowledged, ${w.retried} sent again`,
  ).toEqual([]);
  expect(w.acked.size).toBeGreaterThan(0);
  console.log(`${prefix}: ${w.acked.size} acknowledged writes all read back; ${w.unacked} writes no member acknowledged, ${w.retried} sent again`);
}

describe('growing and shrinking a live cluster', () => {
  beforeAll(async () => {
    await labUp(5);
    for (const n of nodes()) await lab.resetNode(n.name);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'provision-membership-'));
    const r = await provisionJson([inventory('three', ALL, THREE)]);
    expect(failures(r.json), r.stdout.slice(-4000)).toEqual([]);
    expect((await ctl('etcd0', 'put membership-key kept')).code).toBe(0);
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('3 -> 5: two hosts added to the members join one at a time in inventory order, as --check shows, while a client writes', async () => {
    const five = inventory('five', ALL, ALL);
    const watch = watchMembers(node('etcd0').address);
    let check: JsonRun | undefined;
    await whileWriting('grow', THREE, THREE, async (writer) => {
      try {
        ({ check } = await checkThenRun(five, { writer }));
      } finally {
        await watch.stop();
      }
    });
    const predicted = stepsOf(check!);
    expect(predicted.filter((s) => /^etcd[34]: Write \/etc\/etcd\/etcd.conf: (add|promote) /.test(s))).toEqual([
      'etcd3: Write /etc/etcd/etcd.conf: add etcd3 to cluster lab as a learner (3 members, quorum 2, tolerates 1; a learner does not vote)',
      'etcd3: Write /etc/etcd/etcd.conf: promote etcd3 to a voting member once it has caught up (3 members, quorum 2, tolerates 1 -> 4 members, quorum 3, tolerates 1)',
      'etcd4: Write /etc/etcd/etcd.conf: add etcd4 to cluster lab as a learner (4 members, quorum 3, tolerates 1; a learner does not vote)',
      'etcd4: Write /etc/etcd/etcd.conf: promote etcd4 to a voting member once it has caught up (4 members, quorum 3, tolerates 1 -> 5 members, quorum 3, tolerates 2)',
    ]);
    // No restart of the members already there.
    expect(predicted.filter((s) => /restart/.test(s))).toEqual([]);
    // One at a time, in inventory order, as a client saw it: never two members joining at once,
    // and etcd4 listed only once etcd3 votes.
    const history = watch.seen.map(show).join('\n');
    for (const l of watch.seen) {
      expect(l.filter((m) => m.learner || !m.started).length, history).toBeLessThanOrEqual(1);
      if (l.some((m) => m.name === 'etcd4'))
        expect(
          l.find((m) => m.name === 'etcd3'),
          history,
        ).toEqual({ name: 'etcd3', started: true, learner: false });
    }
    expect(watch.seen.at(-1), history).toEqual(voters(ALL));
    expect(await memberList('etcd0')).toEqual(voters(ALL));
    expect((await ctl('etcd4', 'get membership-key --print-value-only')).stdout.trim()).toBe('kept');
    for (const n of ['etcd3', 'etcd4'])
      expect((await ssh(node(n).address, 'cat /etc/etcd/etcd.conf')).stdout).toContain('ETCD_INITIAL_CLUSTER_STATE="existing"');
    const again = await provisionJson([five]);
    expect(failures(again.json)).toEqual([]);
    expect(totalChanged(again.json)).toBe(0);
  });

  it('refuses to remove more members at once than the cluster tolerates, and changes nothing', async () => {
    const three = inventory('three-gone', ALL, ['etcd0', 'etcd1'], ['etcd2', 'etcd3', 'etcd4']);
    for (const args of [[three, '--check'], [three]]) {
      const r = await provisionJson(args);
      expect(r.code).not.toBe(0);
      const msgs = failures(r.json).join('\n');
      expect(msgs).toMatch(
        /not removing etcd2, etcd3, etcd4 from cluster lab: that is 3 of its 5 members, quorum 3, tolerates 2, more than it can lose at once/,
      );
      expect(msgs).toMatch(/retire at most 2 members per run/);
    }
    expect(await memberList('etcd0')).toEqual(voters(ALL));
    expect((await ssh(node('etcd2').address, 'systemctl is-active etcd')).stdout.trim()).toBe('active');
  });

  it('refuses a removal that would leave too few members answering (the others are outside the run)', async () => {
    // etcd1 and etcd2 down and not in this run (--limit): removing healthy etcd3 would leave 2 of 4 answering.
    for (const n of ['etcd1', 'etcd2']) await ssh(node(n).address, 'systemctl stop etcd');
    try {
      const inv = inventory('quorum', ALL, ['etcd0', 'etcd1', 'etcd2', 'etcd4'], ['etcd3']);
      const r = await provisionJson([inv, '--limit', 'etcd0,etcd3,etcd4']);
      expect(r.code).not.toBe(0);
      expect(failures(r.json).join('\n')).toMatch(/not removing etcd3 from cluster lab: 2 of the 4 members left would be healthy, below the quorum of 3/);
      expect((await ssh(node('etcd3').address, 'systemctl is-active etcd')).stdout.trim()).toBe('active');
    } finally {
      for (const n of ['etcd1', 'etcd2']) await ssh(node(n).address, 'systemctl start etcd');
    }
    expect(await memberList('etcd0')).toEqual(voters(ALL));
  });

  it('5 -> 3: two hosts moved to cluster.retired are removed, then stopped, disabled and their data moved aside, as --check shows, while a client writes', async () => {
    const inv = inventory('retire', ALL, THREE, ['etcd3', 'etcd4']);
    let check: JsonRun | undefined;
    // Written through all five, the two that leave included: what they acknowledged must stay.
    await whileWriting('shrink', ALL, THREE, async (writer) => {
      ({ check } = await checkThenRun(inv, { writer }));
    });
    const predicted = stepsOf(check!);
    const removals = predicted.filter((s) => / remove etcd\d /.test(s));
    expect(removals).toHaveLength(2);
    const first = /^etcd0: .*: remove (etcd[34]) \(\w+\) from cluster lab: 5 members, quorum 3, tolerates 2 -> 4 members, quorum 3, tolerates 1$/;
    const second = /^etcd0: .*: remove (etcd[34]) \(\w+\) from cluster lab: 4 members, quorum 3, tolerates 1 -> 3 members, quorum 2, tolerates 1$/;
    const a = removals.map((s) => first.exec(s)?.[1]).find(Boolean);
    const b = removals.map((s) => second.exec(s)?.[1]).find(Boolean);
    expect([a, b].sort(), removals.join('\n')).toEqual(['etcd3', 'etcd4']);
    for (const n of ['etcd3', 'etcd4'])
      expect(predicted).toContain(`${n}: Stop and disable etcd, move its data aside: stop etcd.service (${n} has left cluster lab)`);
    expect(await memberList('etcd0')).toEqual(voters(THREE));
    for (const n of ['etcd3', 'etcd4']) {
      const at = node(n).address;
      expect((await ssh(at, 'systemctl is-active etcd')).stdout.trim()).not.toBe('active');
      expect((await ssh(at, 'systemctl is-enabled etcd')).stdout.trim()).toBe('disabled');
      const ls = (await ssh(at, 'ls /var/lib/etcd')).stdout.split('\n').filter(Boolean);
      expect(ls).not.toContain(`${n}.etcd`);
      expect(ls.some((f) => new RegExp(`^${n}\\.etcd\\.retired-\\d{8}T\\d{6}$`).test(f))).toBe(true);
    }
    expect((await ctl('etcd0', 'get membership-key --print-value-only')).stdout.trim()).toBe('kept');
    const again = await provisionJson([inv]);
    expect(failures(again.json)).toEqual([]);
    expect(totalChanged(again.json)).toBe(0);
  });

  it('--check predicts the restart guard from the state the run will have made: one member stopped, another drifted', async () => {
    const inv = inventory('three-again', THREE, THREE);
    await ssh(node('etcd1').address, 'systemctl stop etcd');
    await ssh(node('etcd2').address, `sed -i 's/^ETCD_INITIAL_CLUSTER_TOKEN=.*/ETCD_INITIAL_CLUSTER_TOKEN="drifted"/' /etc/etcd/etcd.conf`);
    const { run } = await checkThenRun(inv);
    const handled = run.tasks.filter((t) => t.handler && t.status === 'changed').map((t) => t.host);
    expect(handled).toEqual(['etcd2']);
    expect(await memberList('etcd0')).toEqual(voters(THREE));
  });

  it('a retired host joins again, and once offline and gone from the inventory is removed through the others', async () => {
    // etcd4 (retired above: etcd disabled, its data moved aside) joins again, goes offline and leaves the inventory altogether.
    const withFour = inventory('with-etcd4', [...THREE, 'etcd4'], [...THREE, 'etcd4']);
    const grown = await provisionJson([withFour]);
    expect(failures(grown.json), grown.stdout.slice(-4000)).toEqual([]);
    expect(await memberList('etcd0')).toEqual(voters([...THREE, 'etcd4']));
    await ssh(node('etcd4').address, 'systemctl stop etcd');
    const without = inventory('without-etcd4', THREE, THREE);
    const { check } = await checkThenRun(without);
    expect(stepsOf(check).some((s) => /remove etcd4 \(\w+, not answering\) from cluster lab: 4 members, quorum 3, tolerates 1 -> 3 members/.test(s))).toBe(
      true,
    );
    expect(await memberList('etcd0')).toEqual(voters(THREE));
  });
});
