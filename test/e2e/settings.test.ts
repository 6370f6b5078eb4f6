/**
 * etcd settings from the inventory on real nodes: a second client port (the guide's 4001) that
 * etcdctl answers on, cluster-wide settings and one member's own, seen in the running etcd's
 * environment and its metrics URL; a re-run is quiet; a changed setting rolls the members.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { changedSet, provisionJson, totalChanged } from '../helpers/cli.js';
import { writeInventory } from '../helpers/inventory.js';
import { ensureLab, etcdNodes, lab, ssh } from '../helpers/lab.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'provision-settings-'));
const members = () => etcdNodes();

const inventoryWith = (heartbeat: number) => {
  const first = members()[0]!;
  return writeInventory(dir, `settings-${heartbeat}`, {
    cluster: {
      extra_client_ports: [4001],
      etcd_settings: { 'heartbeat-interval': heartbeat, 'election-timeout': heartbeat * 10, ETCD_SNAPSHOT_COUNT: 20000, 'auto-compaction-retention': '1h' },
    },
    // One member's own settings: a metrics URL on its address, and another snapshot count.
    hosts: { [first.name]: { etcd_settings: { 'listen-metrics-urls': `http://${first.address}:2381`, 'snapshot-count': 5000 } } },
  });
};

/** The environment of the running etcd process, as the kernel holds it. */
async function etcdEnv(address: string): Promise<Record<string, string>> {
  const r = await ssh(address, "tr '\\0' '\\n' < /proc/$(systemctl show -p MainPID --value etcd)/environ");
  expect(r.code, r.stderr).toBe(0);
  return Object.fromEntries(
    r.stdout
      .split('\n')
      .filter((l) => l.startsWith('ETCD_'))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
}

describe(`etcd settings and a second client port on the ${lab.LAB.engine} lab`, () => {
  beforeAll(async () => {
    await ensureLab();
    for (const n of members()) await lab.resetNode(n.name);
  });

  it('converges with extra_client_ports [4001] and etcd_settings, and a re-run is quiet', async () => {
    const inv = inventoryWith(150);
    const run = await provisionJson([inv]);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    const again = await provisionJson([inv]);
    expect(again.code, again.stdout + again.stderr).toBe(0);
    expect(totalChanged(again.json), changedSet(again.json).join('\n')).toBe(0);
  });

  it('etcdctl on port 4001 of every member answers, and each member advertises both ports', async () => {
    const all4001 = members()
      .map((n) => `http://${n.address}:4001`)
      .join(',');
    const health = await ssh(members()[0]!.address, `ETCDCTL_API=3 etcdctl --endpoints=${all4001} endpoint health 2>&1`);
    expect(health.code, health.stdout + health.stderr).toBe(0);
    expect(health.stdout.match(/:4001 is healthy/g)).toHaveLength(3);
    const put = await ssh(members()[1]!.address, `ETCDCTL_API=3 etcdctl --endpoints=http://${members()[1]!.address}:4001 put via-4001 yes`);
    expect(put.code, put.stderr).toBe(0);
    const got = await ssh(members()[2]!.address, `ETCDCTL_API=3 etcdctl --endpoints=http://${members()[2]!.address}:2379 get --print-value-only via-4001`);
    expect(got.stdout.trim()).toBe('yes');
    const list = await ssh(members()[0]!.address, `ETCDCTL_API=3 etcdctl --endpoints=http://${members()[0]!.address}:4001 member list -w json`);
    const doc = JSON.parse(list.stdout) as { members: { name: string; clientURLs: string[] }[] };
    for (const n of members()) {
      expect(doc.members.find((m) => m.name === n.name)?.clientURLs.sort()).toEqual([`http://${n.address}:2379`, `http://${n.address}:4001`]);
    }
  });

  it('cluster-wide settings reach every running etcd; the per-host ones only their host', async () => {
    const [first, ...rest] = members();
    const env0 = await etcdEnv(first!.address);
    expect(env0).toMatchObject({
      ETCD_HEARTBEAT_INTERVAL: '150',
      ETCD_ELECTION_TIMEOUT: '1500',
      ETCD_AUTO_COMPACTION_RETENTION: '1h',
      ETCD_SNAPSHOT_COUNT: '5000',
    });
    for (const n of rest) {
      const env = await etcdEnv(n.address);
      expect(env).toMatchObject({ ETCD_HEARTBEAT_INTERVAL: '150', ETCD_SNAPSHOT_COUNT: '20000' });
      expect(env.ETCD_LISTEN_METRICS_URLS).toBeUndefined();
    }
    // The metrics URL given to the first member only answers there (etcd serves /metrics on it).
    const metrics = await ssh(first!.address, `exec 3<>/dev/tcp/${first!.address}/2381 && printf 'GET /metrics HTTP/1.0\\r\\n\\r\\n' >&3 && cat <&3`);
    expect(metrics.code, metrics.stderr).toBe(0);
    expect(metrics.stdout).toMatch(/^etcd_server_has_leader 1$/m);
    const none = await ssh(rest[0]!.address, `exec 3<>/dev/tcp/${rest[0]!.address}/2381`);
    expect(none.code).not.toBe(0);
  });

  it('a changed setting restarts the members one at a time, reaches etcd, and the next run is quiet', async () => {
    const inv = inventoryWith(200);
    const run = await provisionJson([inv]);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(changedSet(run.json)).toEqual(
      members()
        .flatMap((n) => [`${n.name}: Write /etc/etcd/etcd.conf`, `${n.name}: restart etcd`])
        .sort(),
    );
    for (const n of members()) expect(await etcdEnv(n.address)).toMatchObject({ ETCD_HEARTBEAT_INTERVAL: '200', ETCD_ELECTION_TIMEOUT: '2000' });
    const again = await provisionJson([inv]);
    expect(totalChanged(again.json), changedSet(again.json).join('\n')).toBe(0);
  });
});
