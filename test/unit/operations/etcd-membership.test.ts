import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { etcdHealth, etcdMembers, type EtcdMember, type EtcdMembers } from '../../../src/facts/etcd.js';
import { file } from '../../../src/facts/file.js';
import { pathExists } from '../../../src/facts/path.js';
import { systemdUnit } from '../../../src/facts/systemd.js';
import { etcdConfigOp } from '../../../src/operations/etcd-config.js';
import { retryWhileUnhealthy } from '../../../src/operations/etcd-join.js';
import { planGrow, planShrink, sizeText } from '../../../src/operations/etcd-membership.js';
import { etcdRemoveMembersOp, etcdRetireOp } from '../../../src/operations/etcd-shrink.js';
import type { ClusterSpec } from '../../../src/inventory/types.js';
import { ADDR, CLUSTER, fact, planOf, type Fixture } from './helpers.js';

ADDR.etcd3 = '10.88.0.13';
ADDR.etcd4 = '10.88.0.14';
const peer = (n: string) => `http://${ADDR[n]}:2380`;
const client = (n: string) => `http://${ADDR[n]}:2379`;
const m = (name: string, o: Partial<EtcdMember> = {}): EtcdMember => ({
  id: `id${name.slice(-1)}`,
  name,
  peerURLs: [peer(name)],
  clientURLs: [client(name)],
  isLearner: false,
  started: true,
  ...o,
});
const members = (names: string[]) => names.map((name) => ({ name, address: ADDR[name]! }));
const C = (names: string[], extra: Partial<ClusterSpec> = {}): ClusterSpec => ({ ...CLUSTER, members: names, ...extra });
const ids = (names: string[]) => new Set(names.map((n) => `id${n.slice(-1)}`));

describe('sizeText', () => {
  it('says members, quorum and tolerance', () => {
    expect(sizeText(4)).toBe('4 members, quorum 3, tolerates 1');
    expect(sizeText(5)).toBe('5 members, quorum 3, tolerates 2');
    expect(sizeText(1)).toBe('1 member, quorum 1, tolerates 0');
  });
});

describe('planGrow', () => {
  const three = [m('etcd0'), m('etcd1'), m('etcd2')];
  it('one new member: the cluster as it will be, 3 -> 4', () => {
    const g = planGrow(C(['etcd0', 'etcd1', 'etcd2', 'etcd3']), members(['etcd0', 'etcd1', 'etcd2', 'etcd3']), three, 'etcd3');
    expect(g).toEqual({
      before: [],
      initialCluster: ['etcd0', 'etcd1', 'etcd2', 'etcd3'].map((n) => `${n}=${peer(n)}`).join(','),
      sizeBefore: 3,
      sizeAfter: 4,
    });
  });
  it('two new members: the second counts the first as joined (one at a time, inventory order)', () => {
    const names = ['etcd0', 'etcd1', 'etcd2', 'etcd3', 'etcd4'];
    const g = planGrow(C(names), members(names), three, 'etcd4');
    expect(g.before).toEqual(['etcd3']);
    expect(g.initialCluster).toBe(names.map((n) => `${n}=${peer(n)}`).join(','));
    expect([g.sizeBefore, g.sizeAfter]).toEqual([4, 5]);
    // Once etcd3 has joined, the same answer from the live list.
    const later = planGrow(C(names), members(names), [...three, m('etcd3')], 'etcd4');
    expect(later).toEqual({ ...g, before: [] });
  });
  it('a member before it that is added but still a learner (not started, or catching up) is still joining: waited for, counted as joined', () => {
    const names = ['etcd0', 'etcd1', 'etcd2', 'etcd3', 'etcd4'];
    const notYet = planGrow(C(names), members(names), three, 'etcd4');
    for (const learner of [m('etcd3', { name: '', started: false, isLearner: true, clientURLs: [] }), m('etcd3', { isLearner: true })])
      expect(planGrow(C(names), members(names), [...three, learner], 'etcd4')).toEqual(notYet);
  });
  it('a member being removed later in the run still counts for the member list a joiner starts from', () => {
    const names = ['etcd0', 'etcd1', 'etcd3'];
    const g = planGrow(C(names), members(names), three, 'etcd3');
    expect(g.initialCluster).toBe(`etcd0=${peer('etcd0')},etcd1=${peer('etcd1')},etcd3=${peer('etcd3')},etcd2=${peer('etcd2')}`);
  });
});

describe('planShrink', () => {
  const four = [m('etcd0'), m('etcd1'), m('etcd2'), m('etcd3')];
  const five = [...four, m('etcd4')];
  const keep3 = members(['etcd0', 'etcd1', 'etcd2']);
  it('nothing to remove', () => {
    expect(planShrink(C(['etcd0', 'etcd1', 'etcd2']), keep3, four.slice(0, 3), ids(['etcd0', 'etcd1', 'etcd2']))).toEqual({ removals: [], warnings: [] });
  });
  it('5 -> 3: unhealthy first, each step keeps quorum', () => {
    const p = planShrink(C(['etcd0', 'etcd1', 'etcd2']), keep3, five, ids(['etcd0', 'etcd1', 'etcd2', 'etcd3']));
    expect(p).toEqual({
      removals: [
        { id: 'id4', name: 'etcd4', healthy: false, learner: false, sizeBefore: 5, sizeAfter: 4 },
        { id: 'id3', name: 'etcd3', healthy: true, learner: false, sizeBefore: 4, sizeAfter: 3 },
      ],
      warnings: [],
    });
  });
  it('4 -> 3 with the removed member offline', () => {
    const p = planShrink(C(['etcd0', 'etcd1', 'etcd2']), keep3, four, ids(['etcd0', 'etcd1', 'etcd2']));
    expect(p).toMatchObject({ removals: [{ name: 'etcd3', healthy: false, sizeBefore: 4, sizeAfter: 3 }] });
  });
  it('an even count after the change warns', () => {
    const keep4 = members(['etcd0', 'etcd1', 'etcd2', 'etcd3']);
    expect(planShrink(C(['etcd0', 'etcd1', 'etcd2', 'etcd3']), keep4, five, ids(['etcd0', 'etcd1', 'etcd2', 'etcd3', 'etcd4']))).toMatchObject({
      warnings: ['cluster lab will have 4 members: an even count tolerates no more failures than 3'],
    });
  });
  it.each<[string, EtcdMember[], string[], string[], RegExp, RegExp]>([
    [
      'more than tolerated at once',
      four,
      ['etcd0', 'etcd1'],
      ['etcd0', 'etcd1', 'etcd2', 'etcd3'],
      /that is 2 of its 4 members, quorum 3, tolerates 1, more than it can lose at once/,
      /retire at most 1 member per run/,
    ],
    [
      'no quorum to agree',
      four,
      ['etcd0', 'etcd1', 'etcd2'],
      ['etcd0', 'etcd3'],
      /only 2 of its 4 members, quorum 3, tolerates 1 are healthy/,
      /bring members back/,
    ],
    [
      'below quorum after',
      five,
      ['etcd0', 'etcd1', 'etcd2', 'etcd3'],
      ['etcd0', 'etcd1', 'etcd4'],
      /not removing etcd4 .*: 2 of the 4 members left would be healthy, below the quorum of 3/,
      /bring the unhealthy members back/,
    ],
    ['no member left', four.slice(0, 2), ['etcd3'], ['etcd0', 'etcd1'], /no member of it would be left/, /keep at least one member/],
    [
      'no member healthy (no quorum)',
      four,
      ['etcd0', 'etcd1', 'etcd2'],
      [],
      /only 0 of its 4 members, quorum 3, tolerates 1 are healthy/,
      /bring members back/,
    ],
  ])('refuses: %s', (_n, listed, keep, healthy, refused, hint) => {
    const p = planShrink(C(keep), members(keep), listed, ids(healthy));
    expect(p).toMatchObject({ refused: expect.stringMatching(refused), hint: expect.stringMatching(hint) });
  });
  it('a learner the inventory does not list is removed without changing the quorum', () => {
    const p = planShrink(C(['etcd0', 'etcd1', 'etcd2']), keep3, [...four.slice(0, 3), m('etcd3', { isLearner: true })], ids(['etcd0', 'etcd1', 'etcd2']));
    expect(p).toMatchObject({ removals: [{ name: 'etcd3', learner: true, sizeBefore: 3, sizeAfter: 3 }] });
  });
});

const ok = (list: EtcdMember[]): EtcdMembers => ({ ok: true, clusterId: 'c1', members: list });
const health = (up: string[], all: string[]) => all.map((n) => ({ endpoint: client(n), healthy: up.includes(n), took: '1ms' }));

describe('etcd_config: a new member joins the live cluster', () => {
  const names = ['etcd0', 'etcd1', 'etcd2', 'etcd3'];
  const fx = (listed: EtcdMember[], check = true): Fixture => ({
    host: 'etcd3',
    check,
    cluster: { members: names },
    facts: [
      fact(pathExists, { path: '/var/lib/etcd/etcd3.etcd/member' }, false),
      fact(file, { path: '/etc/etcd/etcd.conf' }, { exists: false }),
      fact(etcdMembers, { endpoints: ['etcd0', 'etcd1', 'etcd2'].map(client), dialTimeout: '1s' }, ok(listed)),
    ],
  });
  it('member add as a learner, etcd.conf with state existing and the members as they will be, start, promote', async () => {
    const { plan, notes } = await planOf(etcdConfigOp, {}, fx([m('etcd0'), m('etcd1'), m('etcd2')]));
    expect(plan.steps.map((s) => s.description)).toEqual([
      'add etcd3 to cluster lab as a learner (3 members, quorum 2, tolerates 1; a learner does not vote)',
      'write /etc/etcd/etcd.conf',
      'enable and start etcd on etcd3 (joins as a learner and catches up)',
      'promote etcd3 to a voting member once it has caught up (3 members, quorum 2, tolerates 1 -> 4 members, quorum 3, tolerates 1)',
    ]);
    const add = plan.steps[0]!;
    expect(add.kind === 'command' && add.command).toBe(
      retryWhileUnhealthy(
        `ETCDCTL_API=3 etcdctl --endpoints=${['etcd0', 'etcd1', 'etcd2'].map(client).join(',')} member add etcd3 --peer-urls=${peer('etcd3')} --learner`,
      ),
    );
    const conf = plan.steps[1]!;
    expect(conf.kind === 'file' && conf.after).toContain(`ETCD_INITIAL_CLUSTER="${names.map((n) => `${n}=${peer(n)}`).join(',')}"`);
    expect(conf.kind === 'file' && conf.after).toContain('ETCD_INITIAL_CLUSTER_STATE="existing"');
    expect(notes).toContain('etcd3 joins the live cluster lab: 3 members, quorum 2, tolerates 1 -> 4 members, quorum 3, tolerates 1');
  });
  it('in DNS and discovery modes too, a joining member starts from the member list (the token and SRV are for the first bootstrap)', async () => {
    for (const extra of [{ bootstrap: 'discovery', discovery: { endpoint: 'http://10.88.0.1:2379' } }] as const) {
      const f = fx([m('etcd0'), m('etcd1'), m('etcd2')]);
      const { plan } = await planOf(etcdConfigOp, {}, { ...f, cluster: { ...f.cluster, ...extra } });
      const conf = plan.steps[1]!;
      expect(conf.kind === 'file' && conf.after).not.toContain('ETCD_DISCOVERY');
      expect(conf.kind === 'file' && conf.after).toContain('ETCD_INITIAL_CLUSTER=');
    }
  });
  it('a learner an earlier run added but never started: started and promoted, not added again', async () => {
    const { plan } = await planOf(
      etcdConfigOp,
      {},
      fx([m('etcd0'), m('etcd1'), m('etcd2'), m('etcd3', { name: '', started: false, isLearner: true, clientURLs: [] })]),
    );
    expect(plan.steps.map((s) => s.description)).toEqual([
      'write /etc/etcd/etcd.conf',
      'enable and start etcd on etcd3 (joins as a learner and catches up)',
      'promote etcd3 to a voting member once it has caught up (3 members, quorum 2, tolerates 1 -> 4 members, quorum 3, tolerates 1)',
    ]);
  });
});

describe('etcd_config: a member whose data directory was lost (--replace-lost-members)', () => {
  const fx = (options?: Fixture['options']): Fixture => ({
    host: 'etcd2',
    cluster: { members: ['etcd0', 'etcd1', 'etcd2'] },
    ...(options ? { options } : {}),
    facts: [
      fact(pathExists, { path: '/var/lib/etcd/etcd2.etcd/member' }, false),
      fact(file, { path: '/etc/etcd/etcd.conf' }, { exists: false }),
      fact(etcdMembers, { endpoints: ['etcd0', 'etcd1'].map(client), dialTimeout: '1s' }, ok([m('etcd0'), m('etcd1'), m('etcd2')])),
    ],
  });
  it('is left alone unless asked', async () => {
    await expect(planOf(etcdConfigOp, {}, fx())).rejects.toThrow(/its data directory was lost\. Starting it as it is would fail or split the cluster/);
  });
  it('asked: member remove and member add with etcdctl\'s usual dial, each tried again while etcd says "unhealthy cluster" (as grow and shrink do)', async () => {
    const { plan } = await planOf(etcdConfigOp, {}, fx({ replaceLostMembers: true }));
    const eps = `--endpoints=${['etcd0', 'etcd1'].map(client).join(',')}`;
    const commands = plan.steps.filter((s) => s.kind === 'command').map((s) => s.kind === 'command' && s.command);
    expect(commands.slice(0, 2)).toEqual([
      retryWhileUnhealthy(`ETCDCTL_API=3 etcdctl ${eps} member remove id2`),
      retryWhileUnhealthy(`ETCDCTL_API=3 etcdctl ${eps} member add etcd2 --peer-urls=${peer('etcd2')}`),
    ]);
  });
});

describe('retryWhileUnhealthy: a membership change etcd refuses for a moment is tried again', () => {
  /** Runs the wrapped command in sh with a stand-in etcdctl that answers `answers` in turn (the last one from then on). */
  const run = (answers: { out: string; code: number }[], seconds?: number) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'provision-retry-'));
    try {
      const bin = path.join(dir, 'etcdctl');
      const cases = answers.map((a, i) => `${i + 1}) echo '${a.out}' >&2; exit ${a.code};;`).join(' ');
      const last = answers.at(-1)!;
      fs.writeFileSync(
        bin,
        `#!/bin/sh\nn=$(($(cat "${dir}/calls" 2>/dev/null || echo 0) + 1)); echo $n > "${dir}/calls"\ncase $n in ${cases} *) echo '${last.out}' >&2; exit ${last.code};; esac\n`,
        { mode: 0o755 },
      );
      const r = spawnSync('sh', ['-c', retryWhileUnhealthy(`${bin} member add etcd4 --learner`, seconds)], { encoding: 'utf8' });
      return { code: r.status, stdout: r.stdout, stderr: r.stderr, calls: Number(fs.readFileSync(path.join(dir, 'calls'), 'utf8')) };
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  };
  const unhealthy = { out: 'Error: etcdserver: unhealthy cluster', code: 1 };
  it('refused as "unhealthy cluster" (just after a member was promoted): tried again until it goes through', () => {
    const r = run([unhealthy, unhealthy, { out: 'Member 5a0c added to cluster c1', code: 0 }]);
    expect(r).toMatchObject({ code: 0, calls: 3 });
    expect(r.stdout).toContain('Member 5a0c added');
  });
  it('any other failure ends it at once, with etcdctl exit status and message', () => {
    const r = run([{ out: 'Error: etcdserver: Peer URLs already exists', code: 2 }]);
    expect(r).toMatchObject({ code: 2, calls: 1 });
    expect(r.stderr).toContain('Peer URLs already exists');
  });
  it('still refused after the given seconds: fails with what etcd said', () => {
    const r = run([unhealthy], 2);
    expect(r).toMatchObject({ code: 1, calls: 2 });
    expect(r.stderr).toContain('etcdserver: unhealthy cluster');
  });
});

describe('etcd_remove_members and etcd_retire', () => {
  const keep = ['etcd0', 'etcd1', 'etcd2'];
  const all = [...keep, 'etcd3'];
  const facts = (up: string[]) => [
    fact(etcdMembers, { endpoints: keep.map(client), dialTimeout: '1s' }, ok(all.map((n) => m(n)))),
    fact(etcdHealth, { endpoints: all.map(client) }, health(up, all)),
  ];
  const cluster = { members: keep, retired: ['etcd3'] };
  it('removes the retired member through the first member, with the quorum before and after', async () => {
    const { plan } = await planOf(etcdRemoveMembersOp, {}, { cluster, facts: facts(all) });
    expect(plan.steps.map((s) => s.description)).toEqual([
      'remove etcd3 (id3) from cluster lab: 4 members, quorum 3, tolerates 1 -> 3 members, quorum 2, tolerates 1',
    ]);
    const remove = plan.steps[0]!;
    expect(remove.kind === 'command' && remove.command).toBe(
      retryWhileUnhealthy(`ETCDCTL_API=3 etcdctl --endpoints=${keep.map(client).join(',')} member remove id3`),
    );
    const other = await planOf(etcdRemoveMembersOp, {}, { host: 'etcd1', cluster, facts: facts(all) });
    expect(other.plan.steps).toEqual([]);
    expect(other.notes).toEqual(['etcd3: removed from cluster lab through etcd0']);
  });
  it('refuses when the members left would lose quorum, on every member', async () => {
    for (const host of keep)
      await expect(planOf(etcdRemoveMembersOp, {}, { host, cluster, facts: facts(['etcd0', 'etcd3']) })).rejects.toThrow(/only 2 of its 4 members/);
  });
  it('--check: a member this run brings back counts as back (the real run waits for it)', async () => {
    const { plan, notes } = await planOf(etcdRemoveMembersOp, {}, { check: true, cluster, runHosts: [...all], facts: facts(['etcd0', 'etcd3']) });
    expect(plan.steps).toHaveLength(1);
    expect(notes[0]).toMatch(/^etcd1, etcd2 are not healthy now, but this run works on them/);
  });
  const retireFacts = (listed: string[], active: boolean) => [
    fact(etcdMembers, { endpoints: keep.map(client), dialTimeout: '1s' }, ok(listed.map((n) => m(n)))),
    fact(etcdHealth, { endpoints: listed.map(client) }, health(listed, listed)),
    fact(
      systemdUnit,
      { name: 'etcd' },
      {
        unit: 'etcd.service',
        loadState: 'loaded',
        activeState: active ? 'active' : 'inactive',
        subState: '',
        unitFileState: 'enabled',
        fragmentPath: '',
        dropInPaths: [],
        needDaemonReload: false,
      },
    ),
    fact(pathExists, { path: '/var/lib/etcd/etcd3.etcd' }, true),
  ];
  it('retire: once removed, stop, disable, move the data aside', async () => {
    const { plan } = await planOf(etcdRetireOp, {}, { host: 'etcd3', cluster, facts: retireFacts(keep, true) });
    expect(plan.steps.map((s) => s.description.replace(/\d{8}T\d{6}/, '<time>'))).toEqual([
      'stop etcd.service (etcd3 has left cluster lab)',
      'disable etcd.service',
      'move the data directory aside (nothing is deleted): /var/lib/etcd/etcd3.etcd -> /var/lib/etcd/etcd3.etcd.retired-<time>',
    ]);
  });
  it('retire: a host the cluster still lists is left alone (a real run); --check predicts the removal made earlier in the run', async () => {
    await expect(planOf(etcdRetireOp, {}, { host: 'etcd3', cluster, facts: retireFacts(all, true) })).rejects.toThrow(
      /not stopping etcd on etcd3: cluster lab still lists it/,
    );
    const { plan } = await planOf(etcdRetireOp, {}, { host: 'etcd3', check: true, cluster, facts: retireFacts(all, true) });
    expect(plan.steps).toHaveLength(3);
  });
});
