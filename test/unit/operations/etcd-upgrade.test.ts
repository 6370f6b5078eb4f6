import { describe, expect, it } from 'vitest';
import { etcdHealth, etcdVersions, type EtcdQuery } from '../../../src/facts/etcd.js';
import { pathExists } from '../../../src/facts/path.js';
import { rpmPackage } from '../../../src/facts/rpm.js';
import { etcdUpgradeOp, minorOf, versionStepProblem } from '../../../src/operations/etcd-upgrade.js';
import type { ClusterSpec } from '../../../src/inventory/types.js';
import { ADDR, fact, planOf, type FactFixture } from './helpers.js';

const NAMES = ['etcd0', 'etcd1', 'etcd2'];
const url = (n: string) => `http://${ADDR[n]}:2379`;
const ALL: EtcdQuery = { endpoints: NAMES.map(url) };

/** A live member `host` with `installed`, each member running `running[name]`, `sick` unhealthy. */
function live(o: {
  host?: string;
  installed?: string;
  running?: Record<string, string>;
  sick?: string[];
  data?: boolean;
  notInstalled?: boolean;
}): FactFixture[] {
  const running = o.running ?? { etcd0: '3.4.23', etcd1: '3.4.23', etcd2: '3.4.23' };
  const host = o.host ?? 'etcd0';
  return [
    fact(rpmPackage, { name: 'etcd' }, o.notInstalled ? { installed: false, versions: [] } : { installed: true, versions: [o.installed ?? '3.4.23-1.lab'] }),
    fact(pathExists, { path: `/var/lib/etcd/${host}.etcd/member` }, o.data ?? true),
    fact(
      etcdHealth,
      ALL,
      NAMES.map((n) => ({ endpoint: url(n), healthy: !(o.sick ?? []).includes(n), took: '1ms' })),
    ),
    fact(
      etcdVersions,
      ALL,
      NAMES.map((n) => (running[n] ? { endpoint: url(n), version: running[n] } : { endpoint: url(n), error: 'connection refused' })),
    ),
  ];
}

const descriptions = (steps: { description: string }[]) => steps.map((s) => s.description.replace(/\d{8}T\d{6}Z/, 'STAMP'));

describe('etcd_upgrade planner', () => {
  it('a live member on 3.4.23 pinned to 3.5.16: snapshot, package, daemon-reload, restart, then a verification', async () => {
    const { plan } = await planOf(etcdUpgradeOp, { version: '3.5.16' }, { facts: live({}) });
    expect(descriptions(plan.steps)).toEqual([
      "save a snapshot of the cluster to /var/lib/etcd-snapshots/lab-etcd0-STAMP.db (keep the last 7 of etcd0's in /var/lib/etcd-snapshots)",
      'upgrade etcd 3.4.23-1.lab to 3.5.16 (one member at a time)',
      'systemctl daemon-reload',
      'restart etcd on etcd0 with 3.5.16',
    ]);
    expect(plan.steps[1]).toMatchObject({
      command: 'yum install -y -- etcd-3.5.16',
      effects: [{ kind: 'package', name: 'etcd', state: 'present', version: '3.5.16' }],
    });
    expect(plan.steps[3]).toMatchObject({ command: 'systemctl restart -- etcd.service' });
    expect(plan.steps[0]).toMatchObject({ command: expect.stringContaining('snapshot save /var/lib/etcd-snapshots/lab-etcd0-') });
    expect(plan.verify).toBeDefined();
  });

  it('keeps cluster.backup.keep snapshots', async () => {
    const { plan } = await planOf(etcdUpgradeOp, { version: '3.5.16' }, { facts: live({}), cluster: { backup: { keep: 3 } } as Partial<ClusterSpec> });
    expect(plan.steps[0]!.description).toContain('keep the last 3 of');
    expect((plan.steps[0] as { command: string }).command).toMatch(/ 3 lab-etcd0-$/);
  });

  it('the second member, after the first was upgraded (mixed versions), goes on', async () => {
    const { plan } = await planOf(
      etcdUpgradeOp,
      { version: '3.5.16' },
      { host: 'etcd1', facts: live({ host: 'etcd1', running: { etcd0: '3.5.16', etcd1: '3.4.23', etcd2: '3.4.23' } }) },
    );
    expect(plan.steps).toHaveLength(4);
  });

  it('nothing to do: no version pinned, the pinned version installed, not installed, or no data yet', async () => {
    expect((await planOf(etcdUpgradeOp, { version: '' }, { facts: [] })).plan.steps).toEqual([]);
    expect((await planOf(etcdUpgradeOp, { version: '3.5.16' }, { facts: live({ installed: '3.5.16-1.lab' }) })).plan.steps).toEqual([]);
    expect((await planOf(etcdUpgradeOp, { version: '3.5.16-1.lab' }, { facts: live({ installed: '3.5.16-1.lab' }) })).plan.steps).toEqual([]);
    expect((await planOf(etcdUpgradeOp, { version: '3.5.16' }, { facts: live({ notInstalled: true }) })).plan.steps).toEqual([]);
    const fresh = await planOf(etcdUpgradeOp, { version: '3.5.16' }, { facts: live({ data: false }) });
    expect(fresh.plan.steps).toEqual([]);
    expect(fresh.notes).toEqual(['etcd0 has no etcd data yet: the package task installs etcd 3.5.16']);
  });

  it('refuses while a member is unhealthy, naming it and what to do', async () => {
    const r = planOf(etcdUpgradeOp, { version: '3.5.16' }, { facts: live({ sick: ['etcd2'], running: { etcd0: '3.4.23', etcd1: '3.4.23' } }) });
    await expect(r).rejects.toThrow('etcd_upgrade: not upgrading etcd0 to 3.5.16: etcd2 is unhealthy, and an upgrade restarts members one at a time');
    await expect(r).rejects.toMatchObject({ hint: expect.stringContaining('bring etcd2 back first') });
  });

  it('refuses a downgrade across a minor and a skipped minor, before any change', async () => {
    const down = planOf(
      etcdUpgradeOp,
      { version: '3.4.23' },
      { facts: live({ installed: '3.5.16-1.lab', running: { etcd0: '3.5.16', etcd1: '3.5.16', etcd2: '3.5.16' } }) },
    );
    await expect(down).rejects.toThrow('etcd0 runs 3.5.16; 3.4.23 would downgrade across a minor version (3.5 to 3.4)');
    await expect(down).rejects.toMatchObject({ hint: expect.stringContaining('restore a snapshot') });
    const skip = planOf(etcdUpgradeOp, { version: '3.6.0' }, { facts: live({}) });
    await expect(skip).rejects.toThrow('3.6.0 would skip a minor version (3.4 to 3.6)');
    await expect(skip).rejects.toMatchObject({ hint: expect.stringContaining('pin the latest 3.5.x first') });
    // Another member still on 3.3 (older than this one) makes the skip: refused on the first member planned.
    const lagging = planOf(etcdUpgradeOp, { version: '3.5.16' }, { facts: live({ running: { etcd0: '3.4.23', etcd1: '3.4.23', etcd2: '3.3.27' } }) });
    await expect(lagging).rejects.toThrow('etcd2 runs 3.3.27; 3.5.16 would skip a minor version (3.3 to 3.5)');
  });

  it('a patch downgrade within a minor is rolled out with yum downgrade', async () => {
    const { plan } = await planOf(
      etcdUpgradeOp,
      { version: '3.5.15' },
      { facts: live({ installed: '3.5.16-1.lab', running: { etcd0: '3.5.16', etcd1: '3.5.16', etcd2: '3.5.16' } }) },
    );
    expect(plan.steps[1]).toMatchObject({
      description: 'downgrade etcd 3.5.16-1.lab to 3.5.15 (one member at a time)',
      command: 'yum downgrade -y -- etcd-3.5.15',
    });
  });

  it('minorOf and versionStepProblem', () => {
    expect(minorOf('3.5.16-1.lab')).toEqual([3, 5]);
    expect(minorOf('1:3.4.23')).toEqual([3, 4]);
    expect(minorOf('latest')).toBeUndefined();
    expect(versionStepProblem('3.4.23', '3.4.25')).toBeUndefined();
    expect(versionStepProblem('3.4.23', '3.5.0')).toBeUndefined();
    expect(versionStepProblem('3.5.16', '4.0.0')?.kind).toBe('skip');
    expect(versionStepProblem('3.5.16', '3.4.23')?.kind).toBe('downgrade');
    expect(versionStepProblem('3.5.16', 'x')?.kind).toBe('unknown');
  });
});
