/**
 * Backup and restore, the parts that need no node: retention (which snapshots go), the
 * parsing of etcd's snapshot figures, the restore plan (facts in, steps out), and the command
 * line's refusals (exit 2, one message, no stack, no connection).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { commandOf } from '../../src/cli/route.js';
import { backupDirOf, backupName, backupRetention } from '../../src/operations/etcd-backup.js';
import { renderEtcdConf, type Member } from '../../src/operations/etcd-conf.js';
import { planRestore, restoreToken } from '../../src/operations/etcd-restore.js';
import { parseKeyCount, parseSha256sum, parseSnapshotStatus } from '../../src/operations/etcd-snapshot.js';
import { pruneLocal, toPrune } from '../../src/util/retention.js';
import { CLUSTER } from './operations/helpers.js';

const MEMBERS: Member[] = [
  { name: 'etcd0', address: '10.88.0.10' },
  { name: 'etcd1', address: '10.88.0.11' },
  { name: 'etcd2', address: '10.88.0.12' },
];
const STAMP = '20261202T101500Z';
const SHA = 'a'.repeat(64);

describe('retention', () => {
  const rule = { prefix: 'lab-', suffix: '.db', keep: 2, stamp: true };
  it('keeps the newest N by the stamp in the name, and removes the rest oldest first', () => {
    const names = ['lab-20261202T100000Z-etcd0.db', 'lab-20261201T230000Z-etcd1.db', 'lab-20261202T110000Z-etcd2.db', 'lab-20261130T000000Z-etcd0.db'];
    expect(toPrune(names, rule)).toEqual(['lab-20261130T000000Z-etcd0.db', 'lab-20261201T230000Z-etcd1.db']);
    expect(toPrune(names, { ...rule, keep: 4 })).toEqual([]);
    expect(toPrune(names, { ...rule, keep: 1 })).toHaveLength(3);
  });
  it("never touches another cluster's snapshots, temporary files, or other files", () => {
    const names = [
      'lab-tls-20261101T000000Z-etcd0.db', // cluster lab-tls shares the prefix "lab-"
      '.lab-20261101T000000Z-etcd0.db.123.tmp',
      'lab-notes.txt',
      'lab-20261101T000000Z-etcd0.db.part',
      'lab-20261202T100000Z-etcd0.db',
    ];
    expect(toPrune(names, { ...rule, keep: 1 })).toEqual([]);
  });
  it('refuses a keep below 1', () => {
    expect(() => toPrune([], { ...rule, keep: 0 })).toThrow(/at least 1/);
  });
  it('prunes a directory on the controller', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'retention-'));
    try {
      const cluster = { ...CLUSTER, name: 'lab' };
      const dates = [1, 2, 3, 4].map((h) => new Date(Date.UTC(2026, 11, 2, h)));
      for (const d of dates) fs.writeFileSync(path.join(dir, backupName('lab', 'etcd0', d)), 'x');
      fs.writeFileSync(path.join(dir, backupName('lab-tls', 'etcd0', dates[0]!)), 'x');
      const r = pruneLocal(dir, backupRetention(cluster, 3));
      expect(r.removed.map((f) => path.basename(f))).toEqual([backupName('lab', 'etcd0', dates[0]!)]);
      expect(r.kept.map((f) => path.basename(f))).toEqual(dates.slice(1).map((d) => backupName('lab', 'etcd0', d)));
      expect(fs.readdirSync(dir).sort()).toEqual(
        [backupName('lab', 'etcd0', dates[0]!).replace('lab-', 'lab-tls-'), ...r.kept.map((f) => path.basename(f))].sort(),
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
  it('takes keep from the inventory, else 7; the directory beside the inventory unless set', () => {
    expect(backupRetention(CLUSTER).keep).toBe(7);
    expect(backupRetention({ ...CLUSTER, backup: { keep: 3 } }).keep).toBe(3);
    expect(backupRetention({ ...CLUSTER, backup: { keep: 3 } }, 5).keep).toBe(5);
    expect(backupDirOf('/srv/inv/prod.yaml', CLUSTER)).toBe('/srv/inv/.provision-state/backups/lab');
    expect(backupDirOf('/srv/inv/prod.yaml', { ...CLUSTER, backup: { dir: '/backups' } })).toBe('/backups');
  });
});

describe("etcd's snapshot figures", () => {
  it('parses snapshot status (etcdctl 3.4, and etcdutl 3.5 with a deprecation line before)', () => {
    expect(parseSnapshotStatus('{"hash":406617112,"revision":6,"totalKey":11,"totalSize":20480}\n')).toEqual({
      hash: '406617112',
      revision: 6,
      totalKeys: 11,
      totalSize: 20480,
    });
    expect(
      parseSnapshotStatus('Deprecated: Use `etcdutl snapshot status` instead.\n\n{"hash":1,"revision":2,"totalKey":3,"totalSize":4,"version":"3.5.0"}')
        ?.totalKeys,
    ).toBe(3);
    expect(parseSnapshotStatus('')).toBeUndefined();
    expect(parseSnapshotStatus('{"error":"x"}')).toBeUndefined();
  });
  it('parses sha256sum and the key count', () => {
    expect(parseSha256sum(`${SHA}  /var/tmp/x.db\n`)).toBe(SHA);
    expect(parseSha256sum('sha256sum: x: No such file')).toBeUndefined();
    expect(
      parseKeyCount('{"header":{"cluster_id":2785207433484657386,"member_id":3724373999779883077,"revision":6,"raft_term":2},"kvs":[],"more":true,"count":5}'),
    ).toEqual({
      count: 5,
      revision: 6,
    });
  });
});

describe('the restore plan', () => {
  const conf = (name: string) => renderEtcdConf(CLUSTER, MEMBERS, name, 'existing');
  const facts = {
    etcd0: { dataDir: false, active: 'failed' },
    etcd1: { dataDir: true, active: 'active', etcdConf: conf('etcd1') },
    etcd2: { dataDir: true, active: 'inactive', etcdConf: conf('etcd2').replace('existing', 'new') },
  };
  const plan = planRestore({ cluster: CLUSTER, members: MEMBERS, facts, sha256: SHA, stamp: STAMP });
  const commands = (phase: number, host: string) =>
    plan.phases[phase]!.steps.filter((s) => s.host === host).map((s) =>
      s.kind === 'command' ? s.command : s.kind === 'upload' ? `upload ${s.path}` : `note: ${s.description}`,
    );

  it('goes in phases, each on every member: stop, move aside, copy, restore, etcd.conf, start', () => {
    expect(plan.phases.map((p) => p.title)).toEqual([
      'stop etcd on every member',
      'move each data directory aside',
      'copy the snapshot to every member',
      'restore the snapshot on every member, with a new cluster token',
      'write etcd.conf',
      'start etcd on every member together',
    ]);
    for (const p of plan.phases) expect(new Set(p.steps.map((s) => s.host))).toEqual(new Set(['etcd0', 'etcd1', 'etcd2']));
  });
  it('moves existing data directories aside and deletes nothing', () => {
    expect(commands(1, 'etcd0')).toEqual(['note: no data directory /var/lib/etcd/etcd0.etcd: nothing to move aside']);
    expect(commands(1, 'etcd1')).toEqual([`mv -T -- /var/lib/etcd/etcd1.etcd /var/lib/etcd/etcd1.etcd.before-restore-${STAMP}`]);
    expect(plan.asides).toEqual({ etcd1: `/var/lib/etcd/etcd1.etcd.before-restore-${STAMP}`, etcd2: `/var/lib/etcd/etcd2.etcd.before-restore-${STAMP}` });
    const all = plan.phases.flatMap((p) => p.steps).map((s) => (s.kind === 'command' ? s.command : ''));
    expect(all.filter((c) => /\brm\b/.test(c))).toEqual([]);
  });
  it('restores each member with its own name and peer URL, the whole cluster, and a new token', () => {
    const token = restoreToken(CLUSTER, STAMP);
    expect(token).not.toBe(CLUSTER.token);
    expect(plan.token).toBe(token);
    const [restore, chown] = commands(3, 'etcd2');
    expect(restore).toContain('--name=etcd2');
    expect(restore).toContain('--initial-advertise-peer-urls=http://10.88.0.12:2380');
    expect(restore).toContain('--initial-cluster=etcd0=http://10.88.0.10:2380,etcd1=http://10.88.0.11:2380,etcd2=http://10.88.0.12:2380');
    expect(restore).toContain(`--initial-cluster-token=${token}`);
    expect(restore).toContain('--data-dir=/var/lib/etcd/etcd2.etcd');
    expect(restore).toContain(plan.snapshotOn);
    expect(chown).toBe('chown -R etcd:etcd -- /var/lib/etcd/etcd2.etcd && chmod 0700 -- /var/lib/etcd/etcd2.etcd');
  });
  it('checks every copy against the SHA-256 of the file', () => {
    expect(commands(2, 'etcd0')[1]).toBe(`upload ${plan.snapshotOn}`);
    expect(commands(2, 'etcd0')[2]).toContain(`${SHA} ${plan.snapshotOn} | sha256sum -c --quiet -`);
  });
  it('writes etcd.conf only where it is not what a converge writes for a member with data', () => {
    expect(commands(4, 'etcd1')[0]).toMatch(/^note: .* already right/);
    expect(commands(4, 'etcd0')).toEqual(['upload /etc/etcd/etcd.conf']);
    expect(commands(4, 'etcd2')).toEqual(['upload /etc/etcd/etcd.conf']);
    const step = plan.phases[4]!.steps.find((s) => s.host === 'etcd2');
    expect(step?.kind === 'upload' && step.content).toBe(conf('etcd2'));
  });
  it('starts the members without waiting for quorum on each (Type=notify)', () => {
    expect(commands(5, 'etcd0')[0]).toContain('systemctl start --no-block -- etcd.service');
  });
  it('keeps the discovery URL a member joined with; DNS mode keeps its SRV domain (etcd ignores both once it has data)', () => {
    const disc = { ...CLUSTER, bootstrap: 'discovery' as const, discovery: { endpoint: 'http://10.88.0.20:2379' } };
    const joined = 'http://10.88.0.20:2379/v2/keys/discovery/abc';
    const f = {
      etcd0: { dataDir: true, etcdConf: renderEtcdConf(disc, MEMBERS, 'etcd0', 'new', joined) },
      etcd1: { dataDir: false },
      etcd2: { dataDir: false },
    };
    const p = planRestore({
      cluster: disc,
      members: MEMBERS,
      facts: f,
      sha256: SHA,
      stamp: STAMP,
      discoveryUrl: 'http://10.88.0.20:2379/v2/keys/discovery/recorded',
    });
    const content = (h: string) => {
      const s = p.phases[4]!.steps.find((x) => x.host === h);
      return s?.kind === 'upload' ? s.content : undefined;
    };
    expect(content('etcd0')).toContain(`ETCD_DISCOVERY="${joined}"`);
    expect(content('etcd0')).toContain('ETCD_INITIAL_CLUSTER_STATE="existing"');
    expect(content('etcd1')).toContain('ETCD_DISCOVERY="http://10.88.0.20:2379/v2/keys/discovery/recorded"');
  });
});

describe('the command line', () => {
  const run = async (argv: string[]) => {
    let stdout = '';
    let stderr = '';
    let connects = 0;
    const code = await main(argv, {
      stdout: (s) => void (stdout += s),
      stderr: (s) => void (stderr += s),
      connect: (() => {
        connects++;
        throw new Error('no connection in this test');
      }) as never,
    });
    return { code, stdout, stderr, connects };
  };
  const inv = path.join(path.dirname(new URL(import.meta.url).pathname), '../fixtures/bad/good-inventory.yaml');

  it('routes backup and restore, the command before or after the inventory', () => {
    expect(commandOf(['backup', 'inv.yaml'])).toBe('backup');
    expect(commandOf(['inv.yaml', 'backup', '--to', 'x'])).toBe('backup');
    expect(commandOf(['restore', 'inv.yaml', '--snapshot', 'restore'])).toBe('restore');
    expect(commandOf(['-i', 'inv.yaml', 'restore'])).toBe('restore');
    expect(commandOf(['inv.yaml', '--to', 'backup'])).toBe('run');
  });
  it('prints help', async () => {
    const b = await run(['backup', '--help']);
    expect(b.code).toBe(0);
    expect(b.stdout).toMatch(/^usage: provision backup <inventory>/);
    const r = await run(['restore', '--help']);
    expect(r.stdout).toMatch(/--snapshot FILE/);
    expect((await run(['--help'])).stdout).toMatch(/provision restore <inventory> --snapshot FILE/);
  });
  it.each([
    [['restore', inv], /restore needs --snapshot FILE/],
    [['restore', inv, '--snapshot', '/nonexistent/snap.db'], /--snapshot \/nonexistent\/snap.db: no such file/],
    [['restore', inv, '--snapshot', '/tmp'], /is not a file/],
    [['restore', inv, '--snapshot', '/dev/null', '--timeout', '0'], /--timeout must be a positive number/],
    [['backup', inv, '--keep', '0'], /--keep must be a whole number of at least 1/],
    [['backup', inv, '--keep', 'two'], /--keep must be a whole number/],
    [['backup', inv, 'extra'], /unexpected argument "extra"/],
    [['backup'], /no inventory given/],
    [['backup', inv, '--bogus'], /Unknown option '--bogus'/],
  ])('%j: exit 2, one message, no stack, no connection', async (argv, message) => {
    const r = await run(argv);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(r.connects).toBe(0);
  });
});
