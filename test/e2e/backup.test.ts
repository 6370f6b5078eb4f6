/**
 * Back up and restore on real nodes, as a user would after a disaster. Static mode: a
 * converged cluster with keys; `provision backup` leaves a snapshot on the controller that
 * etcdctl (the controller's own) accepts, with the figures provision printed, and keeps the
 * last N; restore refuses a healthy cluster; then every member is stopped and its data lost
 * or broken by hand, and `provision restore` brings back a healthy cluster of the inventory's
 * members with exactly the snapshot's keys (a key written after the backup is gone), the
 * broken data directories moved aside and still there, and a converge that changes nothing.
 * DNS SRV mode with TLS: the same disaster and restore; etcd does not discover again.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { provision, provisionJson, totalChanged } from '../helpers/cli.js';
import { ensureLab, etcdNodes, lab, ssh } from '../helpers/lab.js';
import { variantFile, type LabVariant } from '../../src/lab/inventory.js';

const labDir = () => path.dirname(lab.labFiles.inventory);
const members = () => etcdNodes();
const infra = () => lab.topology(3).find((n) => n.role === 'infra')!;
const KEYS = 50;

function etcdctl(tls: boolean, address: string, args: string) {
  const s = tls ? 'https' : 'http';
  const certs = tls ? '--cacert=/etc/etcd/pki/ca.crt --cert=/etc/etcd/pki/client.crt --key=/etc/etcd/pki/client.key ' : '';
  return ssh(address, `ETCDCTL_API=3 etcdctl ${certs}--endpoints=${s}://${address}:2379 ${args}`);
}

/** KEYS keys backup-0..backup-49 with distinct values. */
async function writeKeys(tls: boolean) {
  const a = members()[0]!.address;
  const s = tls ? 'https' : 'http';
  const certs = tls ? '--cacert=/etc/etcd/pki/ca.crt --cert=/etc/etcd/pki/client.crt --key=/etc/etcd/pki/client.key ' : '';
  const r = await ssh(
    a,
    `for i in $(seq 0 ${KEYS - 1}); do ETCDCTL_API=3 etcdctl ${certs}--endpoints=${s}://${a}:2379 put backup-$i value-$i >/dev/null || exit 1; done`,
  );
  expect(r.code, r.stderr).toBe(0);
}

async function keysOn(tls: boolean, address: string): Promise<Record<string, string>> {
  const r = await etcdctl(tls, address, "get '' --prefix -w json");
  expect(r.code, r.stderr).toBe(0);
  const doc = JSON.parse(r.stdout) as { kvs?: { key: string; value: string }[] };
  const b = (s: string) => Buffer.from(s, 'base64').toString();
  return Object.fromEntries((doc.kvs ?? []).map((kv) => [b(kv.key), b(kv.value)]));
}

const expectedKeys = () => Object.fromEntries(Array.from({ length: KEYS }, (_, i) => [`backup-${i}`, `value-${i}`]));

/**
 * The disaster: every member stopped; etcd0's data directory gone, etcd1's WAL gone, etcd2's
 * database truncated. (Left stopped: with one intact member, the others would rejoin it by
 * themselves, as etcd does for a member that still is in the member list.)
 */
async function disaster() {
  const [a, b, c] = members();
  await Promise.all(members().map((n) => ssh(n.address, 'systemctl stop etcd')));
  expect((await ssh(a!.address, `rm -rf /var/lib/etcd/${a!.name}.etcd`)).code).toBe(0);
  expect((await ssh(b!.address, `rm -rf /var/lib/etcd/${b!.name}.etcd/member/wal`)).code).toBe(0);
  expect((await ssh(c!.address, `: > /var/lib/etcd/${c!.name}.etcd/member/snap/db`)).code).toBe(0);
}

/** The restore, and what a user then checks: health, members, keys, moved-aside data, a quiet converge. */
async function restoreAndCheck(inventory: string, snapshot: string, tls: boolean) {
  const [a, b, c] = members();
  const oldId = (await etcdctl(tls, c!.address, 'endpoint status -w json 2>/dev/null')).stdout;

  const check = await provision(['restore', inventory, '--snapshot', snapshot, '--check']);
  expect(check.code, check.stderr).toBe(0);
  expect(check.stdout).toMatch(/check: nothing was changed/);
  expect((await ssh(a!.address, `ls /var/lib/etcd /var/lib/etcd-snapshots 2>&1`)).stdout).not.toMatch(/before-restore|restore-/);

  const r = await provision(['restore', inventory, '--snapshot', snapshot]);
  expect(r.code, r.stdout + r.stderr).toBe(0);
  expect(r.stdout).toMatch(/restored from/);

  const health = await etcdctl(tls, a!.address, 'endpoint health --cluster 2>&1');
  expect(health.code, health.stdout).toBe(0);
  expect(health.stdout.match(/is healthy/g)).toHaveLength(3);
  const list = JSON.parse((await etcdctl(tls, b!.address, 'member list -w json')).stdout) as { members: { name: string }[] };
  expect(list.members.map((m) => m.name).sort()).toEqual(members().map((n) => n.name));
  for (const n of members()) expect(await keysOn(tls, n.address)).toEqual(expectedKeys());
  // A new cluster (new token): not the old one's id.
  const newId = (await etcdctl(tls, c!.address, 'endpoint status -w json')).stdout;
  const clusterId = (s: string) => /"cluster_id":(\d+)/.exec(s)?.[1];
  if (clusterId(oldId)) expect(clusterId(newId)).not.toBe(clusterId(oldId));

  // Nothing deleted: the broken and the stale data directories are kept beside the new ones.
  expect((await ssh(a!.address, `ls -d /var/lib/etcd/${a!.name}.etcd.before-restore-* 2>/dev/null`)).stdout).toBe('');
  expect((await ssh(b!.address, `ls -d /var/lib/etcd/${b!.name}.etcd.before-restore-*/member/snap`)).code).toBe(0);
  expect((await ssh(c!.address, `ls -d /var/lib/etcd/${c!.name}.etcd.before-restore-*/member/wal`)).code).toBe(0);
  // The new data belongs to etcd; the copied snapshots are gone.
  for (const n of members()) {
    expect((await ssh(n.address, `stat -c '%U %a' /var/lib/etcd/${n.name}.etcd`)).stdout.trim()).toBe('etcd 700');
    expect((await ssh(n.address, 'ls /var/lib/etcd-snapshots/ | grep -c restore-')).stdout.trim()).toBe('0');
  }

  // The next converge finds nothing to do and restarts nothing.
  const pids = await Promise.all(members().map((n) => ssh(n.address, 'systemctl show -p MainPID etcd')));
  const again = await provisionJson([inventory]);
  expect(again.code, again.stdout).toBe(0);
  expect(totalChanged(again.json)).toBe(0);
  expect(await Promise.all(members().map((n) => ssh(n.address, 'systemctl show -p MainPID etcd')))).toEqual(pids);
  return r;
}

describe('backup and restore', () => {
  let dir: string;
  beforeAll(async () => {
    await ensureLab();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'provision-backup-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  describe('static', () => {
    const inventory = () => lab.labFiles.inventory;
    let snapshot: string;
    beforeAll(async () => {
      await Promise.all(members().map((n) => lab.resetNode(n.name)));
      const run = await provisionJson([inventory()]);
      expect(run.code, run.stdout).toBe(0);
      await writeKeys(false);
    });

    it('backs up to the controller: 0600, accepted by etcdctl with the figures provision printed, nothing left on the member', async () => {
      const to = path.join(dir, 'static');
      const r = await provision(['backup', inventory(), '--to', to, '--json']);
      expect(r.code, r.stderr).toBe(0);
      const doc = JSON.parse(r.stdout) as { file: string; member: string; sha256: string; status: { revision: number; totalKeys: number; hash: string } };
      snapshot = doc.file;
      expect(path.dirname(snapshot)).toBe(to);
      expect(fs.statSync(snapshot).mode & 0o777).toBe(0o600);
      expect(fs.statSync(to).mode & 0o777).toBe(0o700);
      // The controller's own etcdctl reads the copy and agrees with what the member said.
      const st = JSON.parse(
        execFileSync('etcdctl', ['snapshot', 'status', snapshot, '-w', 'json'], { env: { ...process.env, ETCDCTL_API: '3' } }).toString(),
      ) as {
        hash: number;
        revision: number;
        totalKey: number;
      };
      expect(st.revision).toBe(doc.status.revision);
      expect(st.totalKey).toBe(doc.status.totalKeys);
      expect(String(st.hash)).toBe(doc.status.hash);
      // KEYS keys in one transaction and the lab's own keys: at least KEYS, at revision >= 2.
      expect(st.totalKey).toBeGreaterThanOrEqual(KEYS);
      const member = members().find((n) => n.name === doc.member)!;
      expect((await ssh(member.address, 'ls /var/tmp | grep -c provision-backup')).stdout.trim()).toBe('0');
    });

    it('keeps the last N snapshots (cluster.backup.keep), in the directory the inventory names', async () => {
      const to = path.join(dir, 'kept');
      const inv = path.join(labDir(), 'inventory-backup-keep.yaml');
      fs.writeFileSync(inv, `${fs.readFileSync(inventory(), 'utf8').trimEnd()}\n  backup: { keep: 2, dir: ${to} }\n`);
      try {
        const files: string[] = [];
        for (let i = 0; i < 3; i++) {
          if (i) await new Promise((res) => setTimeout(res, 1100)); // names are stamped to the second
          const r = await provision(['backup', inv, '--json']);
          expect(r.code, r.stderr).toBe(0);
          files.push((JSON.parse(r.stdout) as { file: string }).file);
        }
        expect(fs.readdirSync(to).sort()).toEqual(files.slice(1).map((f) => path.basename(f)));
        const text = await provision(['backup', inv]);
        expect(text.stdout).toMatch(/kept 2 snapshots of lab .*; removed /);
      } finally {
        fs.rmSync(inv, { force: true });
      }
    });

    it('refuses to restore a healthy cluster without --force, changing nothing', async () => {
      const pids = await Promise.all(members().map((n) => ssh(n.address, 'systemctl show -p MainPID etcd')));
      const r = await provision(['restore', inventory(), '--snapshot', snapshot]);
      expect(r.code).toBe(3);
      expect(r.stderr).toMatch(/cluster lab is serving: 3 of 3 members healthy/);
      expect(r.stderr).toMatch(/--force/);
      expect(r.stderr).not.toMatch(/\n\s+at /);
      expect(await Promise.all(members().map((n) => ssh(n.address, 'systemctl show -p MainPID etcd')))).toEqual(pids);
      expect((await ssh(members()[0]!.address, 'ls /var/lib/etcd')).stdout).not.toMatch(/before-restore/);
    });

    it('after a disaster, restores a healthy cluster with exactly the snapshot’s keys; the old data is kept; a converge changes nothing', async () => {
      // Written after the backup: the restore takes the cluster back to the snapshot.
      expect((await etcdctl(false, members()[0]!.address, 'put after-backup x')).code).toBe(0);
      await disaster();
      const r = await restoreAndCheck(inventory(), snapshot, false);
      expect(r.stdout).toMatch(new RegExp(`${KEYS} keys`));
    });

    it('restore needs every member: an unreachable one is named and nothing changes', async () => {
      const [, , c] = members();
      await lab.cutNetwork(c!.name);
      try {
        const r = await provision(['restore', inventory(), '--snapshot', snapshot, '--force']);
        expect(r.code).toBe(4);
        expect(r.stderr).toMatch(new RegExp(`${c!.name} unreachable`));
        expect(r.stderr).toMatch(/nothing was changed/);
      } finally {
        await lab.restoreNetwork(c!.name);
      }
    });
  });

  describe('DNS SRV discovery with TLS', () => {
    const v: LabVariant = 'dns';
    const inventory = () => path.join(labDir(), variantFile(v, 'inventory'));
    beforeAll(async () => {
      await Promise.all([...members(), infra()].map((n) => lab.resetNode(n.name)));
      fs.rmSync(path.join(labDir(), 'tls-lab-dns'), { recursive: true, force: true });
      const run = await provisionJson([inventory()]);
      expect(run.code, run.stdout).toBe(0);
      await writeKeys(true);
    });

    it('backs up over TLS and restores after a disaster without discovering again', async () => {
      const b = await provision(['backup', inventory(), '--to', path.join(dir, 'dns'), '--json']);
      expect(b.code, b.stderr).toBe(0);
      const snapshot = (JSON.parse(b.stdout) as { file: string }).file;
      await disaster();
      await restoreAndCheck(inventory(), snapshot, true);
      // etcd.conf still names the SRV domain (as a converge writes it), and etcd did not use it.
      const conf = (await ssh(members()[1]!.address, 'cat /etc/etcd/etcd.conf')).stdout;
      expect(conf).toMatch(/^ETCD_DISCOVERY_SRV="/m);
      expect(conf).toMatch(/^ETCD_INITIAL_CLUSTER_STATE="existing"$/m);
    });
  });
});
