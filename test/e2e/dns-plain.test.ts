/**
 * The guide's DNS SRV setup as it wrote it: plain http (records _etcd-server._tcp, no TLS),
 * members serving clients on 2379 and 4001, with etcd 3.5.16 pinned (3.4 cannot do this,
 * etcd-io/etcd#11321). From bare nodes: the cluster forms, etcdctl sees every member by its
 * name in the domain on both ports, and a re-run changes nothing.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { changedSet, provisionJson, totalChanged } from '../helpers/cli.js';
import { ensureLab, etcdNodes, lab, ssh } from '../helpers/lab.js';
import { variantFile } from '../../src/lab/inventory.js';

const labDir = () => path.dirname(lab.labFiles.inventory);
const members = () => etcdNodes();
const infra = () => lab.topology(3).find((n) => n.role === 'infra')!;
const DOMAIN = 'lab.internal';
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'provision-dns-plain-'));

/** The lab's DNS inventory without TLS, etcd 3.5.16 pinned, and the guide's second client port. */
function inventory(): string {
  const text = fs
    .readFileSync(path.join(labDir(), variantFile('dns', 'inventory')), 'utf8')
    .replace(/^ {2}tls: .*\n/m, '')
    .replace(/^ {2}name: lab-dns$/m, '  name: lab-dns-plain')
    .replace(/^ {2}token: .*$/m, '  token: lab-dns-plain-etcd-cluster')
    .replace(/package: \{ name: etcd \}/, 'package: { name: etcd, version: "3.5.16" }\n  extra_client_ports: [4001]')
    .replace(/(key_file|known_hosts): /g, `$1: ${labDir()}/`);
  expect(text).not.toMatch(/tls/);
  const file = path.join(dir, 'dns-plain.yaml');
  fs.writeFileSync(file, text);
  return file;
}

describe(`DNS SRV discovery in plain http with etcd 3.5.16 on the ${lab.LAB.engine} lab`, () => {
  beforeAll(async () => {
    await ensureLab();
    await Promise.all([...members(), infra()].map((n) => lab.resetNode(n.name)));
  });

  it('forms the cluster from _etcd-server._tcp records, every member on 2379 and 4001', async () => {
    const inv = inventory();
    const run = await provisionJson([inv]);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    const first = members()[0]!;
    const dig = await ssh(first.address, `dig +short SRV _etcd-server._tcp.${DOMAIN}`);
    expect(dig.stdout.trim().split('\n').sort()).toEqual(
      members()
        .map((n) => `0 100 2380 ${n.name}.${DOMAIN}.`)
        .sort(),
    );
    for (const n of members()) expect((await ssh(n.address, "rpm -q --qf '%{VERSION}' etcd")).stdout).toBe('3.5.16');
    const list = await ssh(first.address, `ETCDCTL_API=3 etcdctl --endpoints=http://${first.address}:4001 member list -w json`);
    expect(list.code, list.stderr).toBe(0);
    const doc = JSON.parse(list.stdout) as { members: { name: string; peerURLs: string[]; clientURLs: string[] }[] };
    expect(
      doc.members.map((m) => ({ name: m.name, peer: m.peerURLs.join(','), clients: [...m.clientURLs].sort() })).sort((a, b) => a.name.localeCompare(b.name)),
    ).toEqual(
      members().map((n) => ({
        name: n.name,
        peer: `http://${n.name}.${DOMAIN}:2380`,
        clients: [`http://${n.name}.${DOMAIN}:2379`, `http://${n.name}.${DOMAIN}:4001`],
      })),
    );
    const status = await ssh(
      first.address,
      `ETCDCTL_API=3 etcdctl --endpoints=${members()
        .map((n) => `http://${n.address}:4001`)
        .join(',')} endpoint status -w json`,
    );
    expect(status.code, status.stderr).toBe(0);
    const versions = (JSON.parse(status.stdout) as { Status: { version: string } }[]).map((s) => s.Status.version);
    expect(versions).toEqual(['3.5.16', '3.5.16', '3.5.16']);
  });

  it('a re-run changes nothing', async () => {
    const again = await provisionJson([inventory()]);
    expect(again.code, again.stdout + again.stderr).toBe(0);
    expect(totalChanged(again.json), changedSet(again.json).join('\n')).toBe(0);
  });
});
