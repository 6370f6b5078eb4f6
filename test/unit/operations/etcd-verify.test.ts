import { describe, expect, it } from 'vitest';
import { FakeConnection, type FakeCommandResult } from '../../helpers/fake-connection.js';
import { file, sha256, type FileFact } from '../../../src/facts/file.js';
import { etcdVerifyOp } from '../../../src/operations/etcd-verify.js';
import type { Step } from '../../../src/plan/types.js';
import { fact, planOf } from './helpers.js';

const CONF = '/etc/etcd/etcd.conf';
const NEW = 'ETCD_NAME="etcd0"\nETCD_INITIAL_CLUSTER_STATE="new"\n';
const EXISTING = 'ETCD_NAME="etcd0"\nETCD_INITIAL_CLUSTER_STATE="existing"\n';
const has = (content: string): FileFact => ({
  exists: true,
  type: 'file',
  mode: 0o644,
  owner: 'root',
  group: 'root',
  size: content.length,
  sha256: sha256(content),
  content,
});
const REWRITE: Step = {
  kind: 'file',
  description: `set ETCD_INITIAL_CLUSTER_STATE="existing" in ${CONF}`,
  path: CONF,
  before: NEW,
  after: EXISTING,
  mode: 0o644,
  owner: 'root',
  group: 'root',
  noNotify: true,
};

const IDS: Record<string, string> = { etcd0: '13668033151171901709', etcd1: '3029890054896913789', etcd2: '17016433951581530877' };
const ip = (n: string) => ({ etcd0: '10.88.0.10', etcd1: '10.88.0.11', etcd2: '10.88.0.12' })[n]!;
/** etcdctl 3.4 `member list -w json`: unstarted members have no name and no client URLs. */
const memberList = (members: { name: string; started?: boolean; peer?: string }[]): string =>
  JSON.stringify({ header: { cluster_id: 1, member_id: 2, raft_term: 2 }, members: [] }).replace(
    '[]',
    '[' +
      members
        .map((m) =>
          m.started === false
            ? `{"ID":${IDS[m.name]},"peerURLs":["http://${ip(m.name)}:2380"]}`
            : `{"ID":${IDS[m.name]},"name":"${m.name}","peerURLs":["${m.peer ?? `http://${ip(m.name)}:2380`}"],"clientURLs":["http://${ip(m.name)}:2379"]}`,
        )
        .join(',') +
      ']',
  ) + '\n';
const health = (bad: string[] = []) =>
  JSON.stringify(
    ['etcd0', 'etcd1', 'etcd2'].map((n) => ({
      endpoint: `http://${ip(n)}:2379`,
      health: !bad.includes(n),
      took: '1ms',
      ...(bad.includes(n) ? { error: 'context deadline exceeded' } : {}),
    })),
  );
const ALL = [{ name: 'etcd0' }, { name: 'etcd1' }, { name: 'etcd2' }];

/** A host whose etcd answers from `rounds` in turn (the last one repeats). */
function host(rounds: { list?: FakeCommandResult; health?: FakeCommandResult }[], conf = NEW): FakeConnection {
  let i = 0;
  let listed = 0;
  return new FakeConnection('etcd0', (cmd) => {
    const r = rounds[Math.min(i, rounds.length - 1)]!;
    if (cmd.includes(' member list ')) {
      expect(cmd).toBe(
        'ETCDCTL_API=3 etcdctl --endpoints=http://10.88.0.10:2379,http://10.88.0.11:2379,http://10.88.0.12:2379 --dial-timeout=1s member list -w json',
      );
      listed++;
      return r.list ?? { stdout: memberList(ALL) };
    }
    if (cmd.includes(' endpoint health ')) {
      expect(cmd).toBe('ETCDCTL_API=3 etcdctl --endpoints=http://10.88.0.10:2379,http://10.88.0.11:2379,http://10.88.0.12:2379 endpoint health -w json');
      if (listed > i) i++;
      return r.health ?? { stdout: health() };
    }
    if (cmd.startsWith('provision_probe() {')) return { stdout: `regular file|644|root|root|${conf.length}\n${sha256(conf)}\n--provision-content--\n${conf}` };
    throw new Error(`unexpected command ${cmd}`);
  });
}

const verifyWith = async (conn: FakeConnection, args = { timeout: 1, interval_ms: 1 }, check = false) => {
  const { plan } = await planOf(etcdVerifyOp, args, { check, facts: [fact(file, { path: CONF }, has(NEW))] });
  return plan.verify!(conn);
};

describe('etcd_verify plan', () => {
  it.each<[string, boolean, FileFact, Step[]]>([
    ['real run: nothing before verifying', false, has(NEW), []],
    ['--check: predicts the rewrite of a "new" conf', true, has(NEW), [REWRITE]],
    ['--check: conf already existing', true, has(EXISTING), []],
    ['--check: no conf', true, { exists: false }, []],
  ])('%s', async (_n, check, conf, steps) => {
    const { plan } = await planOf(etcdVerifyOp, {}, { check, facts: [fact(file, { path: CONF }, conf)] });
    expect(plan.steps).toEqual(steps);
    expect(plan.verify).toBeTypeOf('function');
  });
});

describe('etcd_verify verify()', () => {
  it('healthy at once: member table, then the conf switches to existing without restart', async () => {
    const r = await verifyWith(host([{}]));
    expect(r).toMatchObject({ ok: true, message: 'etcd cluster lab: 3 members started and healthy', then: [REWRITE] });
    expect(r.data).toEqual([
      { id: 'bdae9bbc11dd390d', name: 'etcd0', peerURLs: ['http://10.88.0.10:2380'], clientURLs: ['http://10.88.0.10:2379'], started: true, healthy: true },
      { id: '2a0c54f3ae9e8d7d', name: 'etcd1', peerURLs: ['http://10.88.0.11:2380'], clientURLs: ['http://10.88.0.11:2379'], started: true, healthy: true },
      { id: 'ec268485a3e9eafd', name: 'etcd2', peerURLs: ['http://10.88.0.12:2380'], clientURLs: ['http://10.88.0.12:2379'], started: true, healthy: true },
    ]);
  });

  it('second run: conf already existing, nothing then', async () => {
    const r = await verifyWith(host([{}], EXISTING));
    expect(r.ok).toBe(true);
    expect(r.then).toBeUndefined();
  });

  it('polls until the cluster forms', async () => {
    const conn = host([
      { list: { exitCode: 1, stderr: 'Error: context deadline exceeded\n' }, health: { exitCode: 1, stdout: health(['etcd0', 'etcd1', 'etcd2']) } },
      {
        list: { stdout: memberList([{ name: 'etcd0' }, { name: 'etcd1', started: false }, { name: 'etcd2' }]) },
        health: { exitCode: 1, stdout: health(['etcd1']) },
      },
      {},
    ]);
    const r = await verifyWith(conn, { timeout: 5, interval_ms: 1 });
    expect(r.ok).toBe(true);
    expect(conn.commands.filter((c) => c.includes('member list'))).toHaveLength(3);
  });

  it.each<[string, { list?: FakeCommandResult; health?: FakeCommandResult }, string]>([
    [
      'etcd down',
      { list: { exitCode: 1, stderr: 'Error: context deadline exceeded\n' }, health: { exitCode: 1, stdout: health(['etcd0', 'etcd1', 'etcd2']) } },
      'member list: context deadline exceeded; etcd0 unhealthy (context deadline exceeded); etcd1 unhealthy (context deadline exceeded); etcd2 unhealthy (context deadline exceeded)',
    ],
    [
      'a member missing',
      { list: { stdout: memberList([{ name: 'etcd0' }, { name: 'etcd1' }]) }, health: { exitCode: 1, stdout: health(['etcd2']) } },
      'etcd2 missing; etcd2 unhealthy (context deadline exceeded)',
    ],
    [
      'a member never started',
      {
        list: { stdout: memberList([{ name: 'etcd0' }, { name: 'etcd1', started: false }, { name: 'etcd2' }]) },
        health: { exitCode: 1, stdout: health(['etcd1']) },
      },
      'etcd1 not started; etcd1 unhealthy (context deadline exceeded)',
    ],
    [
      'a peer URL differs',
      { list: { stdout: memberList([{ name: 'etcd0' }, { name: 'etcd1', peer: 'http://10.99.0.1:2380' }, { name: 'etcd2' }]) } },
      'etcd1 has peer URLs http://10.99.0.1:2380, expected http://10.88.0.11:2380',
    ],
  ])('times out: %s', async (_n, round, problems) => {
    const r = await verifyWith(host([round]), { timeout: 0.02, interval_ms: 5 });
    expect(r.ok).toBe(false);
    expect(r.message).toBe(`etcd cluster lab not healthy after 0.02s: ${problems}`);
    expect(r.then).toBeUndefined();
  });

  it('--check: one look, no waiting and no then', async () => {
    const conn = host([{ list: { exitCode: 1, stderr: 'Error: x\n' } }]);
    const r = await verifyWith(conn, { timeout: 60, interval_ms: 1 }, true);
    expect(r.ok).toBe(false);
    expect(conn.commands).toHaveLength(2);
    const ok = await verifyWith(host([{}]), { timeout: 60, interval_ms: 1 }, true);
    expect(ok).toMatchObject({ ok: true });
    expect(ok.then).toBeUndefined();
  });
});
